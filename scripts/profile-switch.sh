#!/usr/bin/env bash
# Profiles the middle of `switch-compare` (the plain frame relay and the switch),
# each in a process of its own, under a bounded closed-loop load: the issuer
# simulator of 940810 behind it, the acquirer simulator of 940857 in front sending
# COUNT 0200s over CONNECTIONS links, one outstanding on each (switch-compare's
# closed64 with a count instead of a duration).
#
#   scripts/profile-switch.sh                 # callgrind, 20000 transactions, 64 links
#   scripts/profile-switch.sh 5000 16         # fewer
#   TOOL=cpu scripts/profile-switch.sh 200000 # no valgrind: the middle's user and
#                                             # system CPU per transaction (/proc)
#   TOOL=strace scripts/profile-switch.sh     # system calls per transaction (strace -c)
#   MIDDLES=switch scripts/profile-switch.sh  # one middle only
#
# With TOOL=callgrind (the default) the middle's instructions are counted only
# while the load runs (`--instr-atstart=no`, switched on and off with
# callgrind_control), and the outputs are left in $OUT (default
# $CARGO_TARGET_DIR/profile): callgrind.<middle>.out, the annotations
# (annotate.<middle>.{exclusive,inclusive}.txt) and a summary line per middle:
# instructions per transaction. Callgrind runs the middle about 50 times slower,
# so keep COUNT low. See benches/PROFILE.md for what a profile showed.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT="${1:-20000}"
CONNECTIONS="${2:-64}"
TOOL="${TOOL:-callgrind}"
MIDDLES="${MIDDLES:-relay switch}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
OUT="${OUT:-$CARGO_TARGET_DIR/profile}"
RULES="$PWD/routing-rules/rules/national.toml"
mkdir -p "$OUT"

case "$TOOL" in
callgrind) command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install -y valgrind)"; exit 2; } ;;
strace) command -v strace >/dev/null || { echo "strace is missing (apt-get install -y strace)"; exit 2; } ;;
cpu) ;;
*) echo "TOOL: callgrind, cpu or strace"; exit 2 ;;
esac

echo "== cargo build --release (switch-compare, sim)" >&2
cargo build --release --locked -q -p benches --bin switch-compare -p simulators --bin sim

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until 127.0.0.1:$1 accepts connections (at most $2 seconds).
wait_port() {
    for _ in $(seq 1 $(( $2 * 10 ))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1 after $2 s" >&2
    return 1
}

# utime + stime of process $1 in clock ticks ("user system").
ticks() {
    awk '{ sub(/.*\) /, ""); print $12, $13 }' "/proc/$1/stat"
}

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -f "$OUT"/stdin.* "$OUT"/switch.toml "$OUT"/ready.*
}
trap cleanup EXIT

for middle in $MIDDLES; do
    issuer_port=$(free_port)
    "$BIN/sim" issuer --bank 940810 --listen "127.0.0.1:$issuer_port" --rules "$RULES" \
        --max-connections 256 --txn-log 1000 2>"$OUT/issuer.$middle.log" &
    issuer=$!
    PIDS+=("$issuer")
    wait_port "$issuer_port" 30

    # The middle's stdin: it exits when this ends.
    fifo="$OUT/stdin.$middle"
    rm -f "$fifo" && mkfifo "$fifo"
    case "$TOOL" in
    callgrind) wrap=(valgrind --tool=callgrind --instr-atstart=no
                     "--callgrind-out-file=$OUT/callgrind.$middle.out") ;;
    strace) wrap=(strace -f -c -o "$OUT/strace.$middle.txt") ;;
    *) wrap=() ;;
    esac
    # The middle says `ready ADDR` on stdout once it serves (the switch: signed on).
    if [ "$middle" = relay ]; then
        serve=(--serve-relay "127.0.0.1:$issuer_port")
    else
        "$BIN/switch-compare" --print-config "127.0.0.1:$issuer_port" >"$OUT/switch.toml"
        serve=(--serve-switch "$OUT/switch.toml")
    fi
    rm -f "$OUT/ready.$middle"
    "${wrap[@]}" "$BIN/switch-compare" "${serve[@]}" \
        <"$fifo" >"$OUT/ready.$middle" 2>"$OUT/middle.$middle.log" &
    mid=$!
    exec 3>"$fifo"
    for _ in $(seq 1 1200); do grep -q '^ready' "$OUT/ready.$middle" 2>/dev/null && break; sleep 0.1; done
    listen=$(awk '/^ready/ { print $2 }' "$OUT/ready.$middle")
    [ -n "$listen" ] || { echo "the $middle did not get ready (see $OUT/middle.$middle.log)" >&2; exit 1; }
    listen_port=${listen##*:}
    PIDS+=("$mid")
    # strace -f: the traced process is strace's child; the middle is that child.
    target=$mid
    if [ "$TOOL" = strace ]; then target=$(pgrep -P "$mid" | head -1); fi

    if [ "$TOOL" = callgrind ]; then callgrind_control -i on "$mid" >/dev/null 2>&1; fi
    before=$(ticks "$target")
    start=$(date +%s.%N)
    "$BIN/sim" acquirer --connect "127.0.0.1:$listen_port" --bank 940857 --issuers 940810 \
        --rules "$RULES" --connections "$CONNECTIONS" --concurrency 1 --count "$COUNT" \
        --timeout-ms 120000 --json >"$OUT/acquirer.$middle.json" 2>"$OUT/acquirer.$middle.log"
    end=$(date +%s.%N)
    after=$(ticks "$target")
    if [ "$TOOL" = callgrind ]; then callgrind_control -i off "$mid" >/dev/null 2>&1; fi

    exec 3>&-   # end of stdin: the middle exits (callgrind writes its output)
    wait "$mid" || true
    kill "$issuer" 2>/dev/null || true
    wait "$issuer" 2>/dev/null || true

    answered=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["answered"])' \
        "$OUT/acquirer.$middle.json")
    hz=$(getconf CLK_TCK)
    read -r u0 s0 <<<"$before"
    read -r u1 s1 <<<"$after"
    cpu=$(python3 -c "import sys; n=$answered; hz=$hz; print(f'user_us_per_txn={($u1-$u0)*1e6/hz/n:.1f} sys_us_per_txn={($s1-$s0)*1e6/hz/n:.1f} tps={n/($end-$start):.0f}')")
    line="$middle: answered=$answered $cpu"
    if [ "$TOOL" = callgrind ]; then
        file="$OUT/callgrind.$middle.out"
        callgrind_annotate "$file" >"$OUT/annotate.$middle.exclusive.txt" 2>/dev/null
        callgrind_annotate --inclusive=yes "$file" >"$OUT/annotate.$middle.inclusive.txt" 2>/dev/null
        callgrind_annotate --inclusive=yes --tree=calling "$file" >"$OUT/tree.$middle.calling.txt" 2>/dev/null
        callgrind_annotate --inclusive=yes --tree=caller "$file" >"$OUT/tree.$middle.caller.txt" 2>/dev/null
        # The file's own summary line reads 0 when collection starts switched off.
        ir=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$OUT/annotate.$middle.exclusive.txt")
        line="$line ir=$ir ir_per_txn=$(( ir / answered ))"
    fi
    echo "$line" | tee -a "$OUT/summary.txt"
done
