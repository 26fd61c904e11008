#!/usr/bin/env bash
# Runs the codec's five cargo-fuzz targets (decode, roundtrip, framing, tlv, composite) for a
# bounded time each, starting from the committed seeds, and fails on a crash.
#
#   scripts/fuzz.sh            # 60 s per target (what CI runs)
#   scripts/fuzz.sh 1800       # the long run: 30 min per target
#
# Installs cargo-fuzz when missing. It needs nightly compiler flags: with only a
# stable toolchain they are allowed by RUSTC_BOOTSTRAP=1 (see codecs/fuzz/README.md).
# A crash leaves its input under codecs/fuzz/artifacts/<target>/ and is printed
# as hex; reproduce it with `cargo fuzz run <target> <file>` from codecs/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-60}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

cd codecs
echo "== cargo fuzz build (release, AddressSanitizer)"
cargo fuzz build --fuzz-dir fuzz

status=0
for target in decode roundtrip framing tlv composite; do
    # Each run reads the committed seeds and writes what it finds into a scratch
    # corpus of its own, so the repository's corpus folder is left as it was.
    scratch="$(mktemp -d)"
    echo "== fuzz $target for ${SECS} s"
    if ! cargo fuzz run --fuzz-dir fuzz "$target" "$scratch" "fuzz/corpus/$target" -- \
        -max_total_time="$SECS" -print_final_stats=1 2>&1 | tail -n 25; then
        status=1
        echo "!! fuzz target $target failed"
        for crash in fuzz/artifacts/"$target"/*; do
            [ -f "$crash" ] && echo "   $crash: $(od -An -tx1 -v "$crash" | tr -d ' \n' | head -c 2000)"
        done
    fi
    rm -rf "$scratch"
done
exit "$status"
