#!/usr/bin/env bash
# A throwaway PostgreSQL server for the switch's cluster tests and demo (issue 19).
#
#   scripts/postgres.sh start DIR   initdb in DIR (first time), start on 127.0.0.1 on a
#                                   free port (the same port again on a restart), create
#                                   the database `switch`, print its URL on stdout
#   scripts/postgres.sh stop DIR    stop it (fast shutdown; DIR is left for the caller)
#   scripts/postgres.sh install     only install the package when missing (as root)
#
# The server comes from Debian's `postgresql` package; when it is missing and this
# runs as root, it is installed with apt-get. PostgreSQL refuses to run as root, so
# as root the server runs as the `postgres` user (or `nobody`), which is given DIR.
# Authentication is `trust`, on loopback only: for tests, never for production.
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR | install" >&2; exit 64; }
[ $# -ge 1 ] || usage
command=$1
if [ "$command" != install ]; then
    [ $# -eq 2 ] || usage
    dir=$(mkdir -p "$2" && cd "$2" && pwd)
fi

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$found" ] && [ -x "$found/initdb" ]; then
        echo "$found"
    fi
}

bin=$(bindir)
if [ -z "$bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "no PostgreSQL installed (apt-get install postgresql, as root)" >&2
        exit 2
    fi
    echo "installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(bindir)
    [ -n "$bin" ] || { echo "postgresql installed but no initdb found" >&2; exit 2; }
fi

[ "$command" = install ] && { echo "PostgreSQL: $bin" >&2; exit 0; }

# Run as an unprivileged user when root (PostgreSQL refuses root).
as_user=()
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown -R "$user" "$dir"
    as_user=(runuser -u "$user" --)
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$command" in
start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        "${as_user[@]}" "$bin/initdb" -D "$dir/data" -U switch -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    [ -s "$dir/port" ] || free_port >"$dir/port"
    port=$(cat "$dir/port")
    # fsync and synchronous_commit stay on: the tests check durability.
    "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >&2 ||
        { tail -n 20 "$dir/server.log" >&2; exit 1; }
    if ! "${as_user[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U switch -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'switch'" | grep -q 1; then
        "${as_user[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U switch switch >&2
    fi
    echo "postgres://switch@127.0.0.1:$port/switch"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2
    fi
    ;;
*) usage ;;
esac
