#!/usr/bin/env bash
# Speed of the operator CLI (issue 3), measured with hyperfine on real breaker databases:
#   1. `breakerctl --db F status NAME` against
#      `sqlite3 F "select * from circuit_breaker_state where bookmaker='NAME'"` on the same
#      file; the target is a median within 1.5 times sqlite3's.
#   2. `breakerctl --db F10k status-all --json` over 10,000 breakers; the target is under 100 ms.
#
# Usage: scripts/bench-cli.sh [RUNS]   runs of each command of the pair (default 300); needs
#                                      hyperfine and sqlite3 on PATH; exits 1 if a target is missed
# Env:   BREAKERCTL=path/to/breakerctl (default: `cargo build --release`, then target/release/)
#        ROUNDS=N                      (rounds the pair's runs are split into, default 6)
#        BENCH_OUT=folder              (keep the databases and hyperfine's JSON exports there)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${1:-300}
BIN=${BREAKERCTL:-target/release/breakerctl}
NAME=fanduel

for tool in hyperfine sqlite3; do
    command -v "$tool" >/dev/null || { echo "bench-cli: $tool is not installed" >&2; exit 1; }
done
if [[ -z ${BREAKERCTL:-} ]]; then
    cargo build --release --quiet
fi

if [[ -n ${BENCH_OUT:-} ]]; then
    OUT=$BENCH_OUT
    mkdir -p "$OUT"
else
    OUT=$(mktemp -d)
    trap 'rm -rf "$OUT"' EXIT
fi
SMALL=$OUT/small.db
BIG=$OUT/10k.db
rm -f "$SMALL" "$SMALL"-wal "$SMALL"-shm "$BIG" "$BIG"-wal "$BIG"-shm "$OUT"/pair-*.json

# Real breaker databases: the schema comes from `breakerctl init`, the rows from sqlite3.
now_ms=$(( $(date +%s) * 1000 ))
"$BIN" --db "$SMALL" init >/dev/null
sqlite3 "$SMALL" <<SQL
INSERT INTO circuit_breaker_state
  (bookmaker, failure_count, last_failure_at, tripped, trip_count, last_error, avg_latency, updated_at)
VALUES
  ('draftkings', 0, NULL, 0, 0, NULL, 41.5, $now_ms),
  ('fanduel', 3, $now_ms - 5000, 0, 2, '503 Service Unavailable', 88.2, $now_ms),
  ('betmgm', 1, $now_ms - 60000, 0, 0, 'request timeout after 2000ms', 120.0, $now_ms),
  ('caesars', 0, NULL, 0, 1, NULL, 35.0, $now_ms),
  ('pointsbet', 0, NULL, 0, 0, NULL, 52.3, $now_ms);
SQL
# Some audit history for NAME, which `status NAME` shows (written by the CLI, hash-chained).
for i in 1 2 3; do
    "$BIN" --db "$SMALL" trip "$NAME" --reason "bench trip $i" --user bench >/dev/null
    "$BIN" --db "$SMALL" reset "$NAME" --force --reason "bench reset $i" --user bench >/dev/null
done

"$BIN" --db "$BIG" init >/dev/null
sqlite3 "$BIG" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO circuit_breaker_state
  (bookmaker, failure_count, last_failure_at, tripped, trip_count, last_error, avg_latency,
   updated_at, tripped_at, trip_kind)
SELECT printf('bookmaker-%05d', i),
       i % 7,
       CASE WHEN i % 7 = 0 THEN NULL ELSE $now_ms - i * 1000 END,
       i % 50 = 0,
       i % 5,
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'HTTP 502 from upstream after ' || (i % 3000) || 'ms' END,
       20.0 + (i % 400),
       $now_ms,
       CASE WHEN i % 50 = 0 THEN $now_ms - 30000 END,
       CASE WHEN i % 50 = 0 THEN 'auto' END
FROM n;
SQL
rows=$("$BIN" --db "$BIG" status-all --json | grep -c '"bookmaker"')
[[ $rows == 10000 ]] || { echo "bench-cli: expected 10000 breakers, got $rows" >&2; exit 1; }

cli_cmd="$BIN --db $SMALL status $NAME"
raw_cmd="sqlite3 $SMALL \"select * from circuit_breaker_state where bookmaker='$NAME'\""
big_cmd="$BIN --db $BIG status-all --json"

# The pairs are measured in ROUNDS rounds that alternate which command goes first, and the
# medians are taken over every run of every round, so that a change in background load
# during the measurement weighs on both commands alike.
ROUNDS=${ROUNDS:-6}
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
echo "== status $NAME vs sqlite3: $ROUNDS rounds of $per_round runs each"
for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then
        hyperfine -N --style none --warmup 10 --runs "$per_round" --export-json "$OUT/pair-$r.json" \
            -n "breakerctl status $NAME" "$cli_cmd" -n "sqlite3 select" "$raw_cmd"
    else
        hyperfine -N --style none --warmup 10 --runs "$per_round" --export-json "$OUT/pair-$r.json" \
            -n "sqlite3 select" "$raw_cmd" -n "breakerctl status $NAME" "$cli_cmd"
    fi
done
echo "== status-all --json over 10,000 breakers"
hyperfine -N --warmup 5 --runs $(( RUNS / 3 > 10 ? RUNS / 3 : 10 )) \
    --export-json "$OUT/status-all.json" -n "breakerctl status-all --json (10k)" "$big_cmd"

# Medians in milliseconds over every run of the named command in the given JSON exports,
# computed with sqlite3's own JSON functions.
median() { # name file...
    local name=$1 sources="" f
    shift
    for f in "$@"; do
        sources+="${sources:+ UNION ALL }SELECT t.value AS v FROM json_each(readfile('$f'), '\$.results') AS r, json_each(r.value, '\$.times') AS t WHERE json_extract(r.value, '\$.command') = '$name'"
    done
    sqlite3 :memory: "WITH s AS ($sources) SELECT printf('%.2f', avg(v) * 1000) FROM (SELECT v FROM s ORDER BY v LIMIT 2 - (SELECT count(*) FROM s) % 2 OFFSET ((SELECT count(*) FROM s) - 1) / 2)"
}
cli=$(median "breakerctl status $NAME" "$OUT"/pair-*.json)
raw=$(median "sqlite3 select" "$OUT"/pair-*.json)
big=$(median "breakerctl status-all --json (10k)" "$OUT/status-all.json")
ratio=$(sqlite3 :memory: "select printf('%.2f', $cli / $raw)")
echo
echo "commands:"
echo "  $cli_cmd"
echo "  $raw_cmd"
echo "  $big_cmd"
echo "status $NAME median:          $cli ms"
echo "sqlite3 select median:        $raw ms"
echo "ratio:                        $ratio (target <= 1.5)"
echo "status-all --json 10k median: $big ms (target < 100)"
ok=$(sqlite3 :memory: "select $ratio <= 1.5 and $big < 100")
[[ $ok == 1 ]] || { echo "bench-cli: a target was missed" >&2; exit 1; }
