#!/usr/bin/env bash
# Instructions per operation of `hot-ops` (benches/src/bin/hot-ops.rs) under
# callgrind: each operation runs at N and 2N iterations; the difference divided by
# N leaves the setup out. Usage: scripts/callgrind-ops.sh [N] [OP...]
# (default N 10000 and every operation of `hot-ops --list`). The `core_*`
# operations (whole purchases through the switch's core) count only the core's
# calls (`--toggle-collect` on hot-ops' `counted_*` functions): their requests,
# QR codes and the issuer's answers are made outside the count.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
shift || true
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p benches --bin hot-ops
BIN=$CARGO_TARGET_DIR/release/hot-ops
OPS=("$@")
if [ ${#OPS[@]} -eq 0 ]; then
    mapfile -t OPS < <("$BIN" --list | cut -f1)
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ir() {
    local only=()
    case $1 in core_*) only=(--toggle-collect='*counted_*') ;; esac
    valgrind --tool=callgrind "${only[@]}" --callgrind-out-file="$TMP/out" "$BIN" "$1" "$2" \
        >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    grep -o 'Collected : [0-9]*' "$TMP/err" | grep -o '[0-9]*'
}
for op in "${OPS[@]}"; do
    one=$(ir "$op" "$N")
    two=$(ir "$op" $((2 * N)))
    echo "$op $(( (two - one) / N ))"
done
