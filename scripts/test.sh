#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: prepares the Python venv with
# pyiso8583 4.0.1 for the codec's differential tests, then `cargo test`.
# Set ISO8583_DIFFERENTIAL_REQUIRED=1 (CI does) to make a missing pyiso8583 a failure
# instead of a printed skip; POSTGRES_REQUIRED=1 (CI too) likewise for PostgreSQL,
# which this script installs from Debian's packages when missing (also as root);
# CHROMIUM_REQUIRED=1 likewise for the console's browser test (Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="$PWD/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import iso8583; assert iso8583.__version__ == '4.0.1'" 2>/dev/null; then
    echo "== preparing $VENV with pyiso8583==4.0.1"
    if python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet --disable-pip-version-check pyiso8583==4.0.1; then
        :
    else
        echo "!! could not prepare the Python venv; differential tests will skip (or fail if required)"
    fi
fi
export PYISO8583_PYTHON="$VENV/bin/python"

# The PostgreSQL store's tests (tests/tests/postgres_store.rs) start throwaway
# servers from Debian's `postgresql` package: install it when missing and root.
# Without it they print that they skipped, unless POSTGRES_REQUIRED=1 (CI).
if [ "$(id -u)" -eq 0 ] || [ "${POSTGRES_REQUIRED:-}" = 1 ]; then
    ./scripts/postgres.sh install || echo "!! PostgreSQL not installed; its tests will skip (or fail if required)"
fi

# The console's browser test (tests/tests/console.rs) drives Debian's headless
# Chromium: install it when missing and root. Without it the test prints that
# it skipped, unless CHROMIUM_REQUIRED=1 (CI).
if ! command -v chromium >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ "${CHROMIUM_REQUIRED:-}" = 1 ]; }; then
    echo "== installing chromium (the console's browser test)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
        || echo "!! chromium not installed; the console's browser test will skip (or fail if required)"
fi

# Every log line the tests capture, the switch processes they start and the test
# run's own output go under $SUITE_LOG_DIR, scanned afterwards for full PANs,
# track data and key material (tests/src/secrets.rs).
export SUITE_LOG_DIR="$PWD/target/suite-logs"
rm -rf "$SUITE_LOG_DIR" && mkdir -p "$SUITE_LOG_DIR"

# A bank host alone links neither the switch nor SQLite (issue 17): the bank-side
# crates are card-security and bank-links; only sim demo / soak (feature server)
# need the switch.
echo "== cargo tree -p simulators --no-default-features: no switch, no rusqlite"
bank_only=$(cargo tree --locked -p simulators --no-default-features -e normal --prefix none)
if grep -E '^(switch|rusqlite) ' <<<"$bank_only"; then
    echo "!! the simulators without their server feature depend on the above"
    exit 1
fi
echo "== cargo build -p simulators --no-default-features"
cargo build --locked -p simulators --no-default-features

echo "== cargo test --workspace --locked"
set -o pipefail
cargo test --workspace --locked "$@" 2>&1 | tee "$SUITE_LOG_DIR/cargo-test.out"

echo "== scan of the suite's logs for card data and keys"
cargo run -q --locked -p tests --bin scan-logs -- "$SUITE_LOG_DIR"
