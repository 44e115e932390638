#!/usr/bin/env bash
# The library a service links (`default-features = false`) must not pull in the console's
# crates, and stays small. Fails with the offending crates named.
set -euo pipefail
cd "$(dirname "$0")/.."

crates=$(cargo tree --no-default-features -e normal --prefix none --offline 2>/dev/null \
    || cargo tree --no-default-features -e normal --prefix none)
names=$(printf '%s\n' "$crates" | sed 's/ (\*)//' | awk '{print $1}' | sort -u)
count=$(printf '%s\n' "$names" | grep -c .)
forbidden="clap clap_complete clap_mangen rustyline comfy-table owo-colors indicatif crossterm tiny_http ureq anyhow"
found=""
for c in $forbidden; do
    if printf '%s\n' "$names" | grep -qx "$c"; then
        found="$found $c"
    fi
done
if [ -n "$found" ]; then
    echo "check-library-deps: the library without default features depends on:$found" >&2
    exit 1
fi
if [ "$count" -gt 50 ]; then
    echo "check-library-deps: the library without default features has $count crates (at most 50)" >&2
    exit 1
fi
echo "check-library-deps: $count crates, none of the console's"
