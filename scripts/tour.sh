#!/usr/bin/env bash
# The README's "A short tour", as a script that runs as written: a fresh breaker database,
# then what a new on-call engineer types. Each command is printed (`$ breakerctl ...`) before
# what it prints, so the output reads like the terminal session in README.md; a test runs
# this script and compares its output with that block.
#
# Usage: scripts/tour.sh           (from any folder; the database is ./data/tour.db there)
# Env:   BREAKERCTL=path/to/breakerctl   the binary (default: `cargo build`, then the debug
#                                        build of this checkout)
#        COLUMNS=N                       the width tables are fitted to on a terminal (default:
#                                        the terminal's, at most 100, the README's)
#
# ./data/tour.db (and its -wal and -shm files) is the tour's own: it is removed first, so
# every run starts from nothing. Exits 1 when a command exits with another code than the
# tour expects.
set -uo pipefail

if [[ -z ${BREAKERCTL:-} ]]; then
    manifest="$(cd "$(dirname "$0")/.." && pwd)/Cargo.toml"
    cargo build --quiet --manifest-path "$manifest" --bin breakerctl || exit 1
    target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    BREAKERCTL=$target/debug/breakerctl
fi
# bash would set COLUMNS to the terminal's width after every command (checkwinsize).
shopt -u checkwinsize
if [[ -z ${COLUMNS:-} ]] && [[ -t 1 ]]; then
    COLUMNS=$(tput cols 2>/dev/null || echo 100)
    ((COLUMNS > 100)) && COLUMNS=100
    export COLUMNS
fi

DB=./data/tour.db
rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
export CIRCUIT_BREAKER_DB=$DB

# The commands below are typed as `breakerctl ...`; this one runs the binary of $BREAKERCTL.
breakerctl() { "$BREAKERCTL" "$@"; }

# `say EXPECTED 'ARGS'`: prints `$ breakerctl ARGS` after a blank line, runs it, and checks its
# exit code. ARGS is shell text, as typed (quotes and a pipe allowed).
last=0
say() {
    local expected=$1 line=$2
    printf '\n$ breakerctl %s\n' "$line"
    eval "breakerctl $line"
    last=$?
    if ((last != expected)); then
        echo "tour: \`breakerctl $line\` exited $last, expected $expected" >&2
        exit 1
    fi
}
# `exit_code`: what `echo $?` prints after the command before.
exit_code() {
    printf '$ echo $?\n%s\n' "$last"
}

printf '$ export CIRCUIT_BREAKER_DB=%s\n' "$DB"
say 0 'init'
say 0 'status-all'
say 4 'trip draftkings --reason "maintenance (TICKET-123)"'
exit_code
say 0 'trip draftkings --create --reason "maintenance (TICKET-123)"'
say 0 'status-all'
say 0 'status draftkings'
say 3 'reset draftkings --reason "maintenance over"'
exit_code
say 3 'reset draftkings --dry-run'
say 0 'reset draftkings --force --reason "done early, TICKET-123"'
say 0 'audit'
say 0 'audit verify'
say 0 'doctor'
say 0 "metrics | grep '^circuit_breaker_tripped'"
