#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL cluster.
#
#   scripts/test-postgres.sh run -- CMD [ARGS...]
#
# Creates a fresh cluster in a temporary directory, starts it on a free port
# on 127.0.0.1, exports
#   SIYU_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
# runs CMD, then stops the server and deletes the directory (also on failure
# or Ctrl-C). Exits with CMD's exit status. Never touches a system PostgreSQL.
#
# If no PostgreSQL server binaries are found: with CI=true this is an error;
# otherwise CMD runs without SIYU_TEST_POSTGRES_URL and the test suite decides.
set -euo pipefail

usage() {
    echo "usage: $0 run -- CMD [ARGS...]" >&2
    exit 2
}

[[ $# -ge 1 && $1 == run ]] || usage
shift
[[ $# -ge 1 && $1 == -- ]] && shift
[[ $# -ge 1 ]] || usage

log() { echo "test-postgres: $*" >&2; }

# --- locate initdb / pg_ctl (highest versioned Debian install, else PATH) ---
find_bindir() {
    local d best="" best_ver=-1 ver
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb && -x $d/pg_ctl ]] || continue
        ver=${d#/usr/lib/postgresql/}
        ver=${ver%%/*}
        [[ $ver =~ ^[0-9]+$ ]] || continue
        if (( ver > best_ver )); then
            best=$d
            best_ver=$ver
        fi
    done
    if [[ -n $best ]]; then
        echo "$best"
        return 0
    fi
    local initdb_path
    if initdb_path=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$initdb_path"
        return 0
    fi
    return 1
}

if ! bindir=$(find_bindir); then
    if [[ ${CI:-} == true ]]; then
        log "error: no PostgreSQL server binaries (initdb, pg_ctl) found under" \
            "/usr/lib/postgresql/*/bin or on PATH; install the postgresql package" \
            "(make system-deps)."
        exit 1
    fi
    log "warning: no PostgreSQL server binaries found; running without" \
        "SIYU_TEST_POSTGRES_URL (PostgreSQL tests will be skipped). Run 'make system-deps'."
    unset SIYU_TEST_POSTGRES_URL
    exec "$@"
fi

# --- run server tools as `postgres` when we are root -------------------------
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    log "error: running as root but there is no 'postgres' system user to run the server as."
    exit 1
fi

datadir=$(mktemp -d /tmp/siyu-test-pg.XXXXXX)
started=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if (( started )); then
        as_pg "$bindir/pg_ctl" -D "$datadir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$datadir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$datadir"
fi
chmod 700 "$datadir"

initdb_args=(-D "$datadir/data" -A trust -U postgres --no-sync -E UTF8)
if ! as_pg "$bindir/initdb" "${initdb_args[@]}" --locale=C.UTF-8 >"$datadir/initdb.log" 2>&1; then
    rm -rf -- "$datadir/data"
    if ! as_pg "$bindir/initdb" "${initdb_args[@]}" --no-locale >"$datadir/initdb.log" 2>&1; then
        log "error: initdb failed:"
        cat "$datadir/initdb.log" >&2
        exit 1
    fi
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

started=1
if ! as_pg "$bindir/pg_ctl" -w -t 60 -D "$datadir/data" -l "$datadir/log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $datadir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null; then
    log "error: PostgreSQL failed to start; server log:"
    cat "$datadir/log" >&2 || true
    exit 1
fi

# `postgres --version` prints e.g. "postgres (PostgreSQL) 15.20 (Debian ...)".
version=$("$bindir/postgres" --version 2>/dev/null | awk '{print $3}') || true
log "started throw-away PostgreSQL ${version:-(unknown version)} on 127.0.0.1:$port (data in $datadir)"

export SIYU_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"

set +e
"$@"
rc=$?
set -e
exit "$rc"
