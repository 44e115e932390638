#!/usr/bin/env bash
# Speed of the operator CLI (issue 3), measured with hyperfine on real breaker databases:
#   1. `breakerctl --db F status NAME` against
#      `sqlite3 F "select * from circuit_breaker_state where bookmaker='NAME'"` on the same
#      file; the target is a median within 1.5 times sqlite3's.
#   2. `breakerctl --db F10k status-all --json` over 10,000 breakers; the target is under 100 ms.
#
# Usage: scripts/bench-cli.sh [RUNS]        (needs hyperfine and sqlite3 on PATH)
# Env:   BREAKERCTL=path/to/breakerctl      (default: target/release/breakerctl, built if missing)
#        BENCH_OUT=folder                   (keep the databases and hyperfine's JSON/markdown there)
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
rm -f "$SMALL" "$SMALL"-wal "$SMALL"-shm "$BIG" "$BIG"-wal "$BIG"-shm

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

echo "== status $NAME vs sqlite3, $RUNS runs each"
hyperfine -N --warmup 30 --runs "$RUNS" \
    --export-json "$OUT/status.json" --export-markdown "$OUT/status.md" \
    -n "breakerctl status $NAME" "$BIN --db $SMALL status $NAME" \
    -n "sqlite3 select" "sqlite3 $SMALL \"select * from circuit_breaker_state where bookmaker='$NAME'\""

echo "== status-all --json over 10,000 breakers, $(( RUNS / 3 )) runs"
hyperfine -N --warmup 5 --runs $(( RUNS / 3 )) \
    --export-json "$OUT/status-all.json" --export-markdown "$OUT/status-all.md" \
    -n "breakerctl status-all --json (10k)" "$BIN --db $BIG status-all --json"

# Medians in milliseconds, read from hyperfine's JSON with sqlite3's own JSON functions.
median() { # file index
    sqlite3 :memory: "select printf('%.2f', json_extract(readfile('$1'), '\$.results[$2].median') * 1000)"
}
cli=$(median "$OUT/status.json" 0)
raw=$(median "$OUT/status.json" 1)
big=$(median "$OUT/status-all.json" 0)
ratio=$(sqlite3 :memory: "select printf('%.2f', $cli / $raw)")
echo
echo "status $NAME median:          $cli ms"
echo "sqlite3 select median:        $raw ms"
echo "ratio:                        $ratio (target <= 1.5)"
echo "status-all --json 10k median: $big ms (target < 100)"
ok=$(sqlite3 :memory: "select $ratio <= 1.5 and $big < 100")
[[ $ok == 1 ]] || { echo "bench-cli: a target was missed" >&2; exit 1; }
