#!/usr/bin/env bash
# L1i misses of SBS-3's real engine and of hftbacktest over the same events, for instruction
# caches of several sizes (cachegrind's model; BENCHMARKS.md, ninth session). The engine's
# misses fall off a cliff once the cache holds the code one order runs through; hftbacktest's
# loop fits in any of them. Run from the repository root after building the compare crate:
#
#     CARGO_TARGET_DIR=target-compare cargo build --release --manifest-path benches/compare/Cargo.toml
#     benches/compare/icache_cliff.sh target-compare/release/perpbot-compare [EVENTS]
#
# Each line is one cachegrind run (about a minute for 300,000 events on a 2-core machine).
set -euo pipefail
bin=${1:?usage: icache_cliff.sh PERPBOT_COMPARE_BINARY [EVENTS]}
events=${2:-300000}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
misses() { # $1 = cachegrind --I1 spec, $2 = run selector
  valgrind --tool=cachegrind --cache-sim=yes --I1="$1" --D1=49152,12,64 --LL=4194304,16,64 \
    --cachegrind-out-file=/dev/null "$bin" "$2" 2>&1 |
    awk '/I1  misses:/ { gsub(",", "", $4); print $4 }'
}
printf '| L1i modelled | engine misses | hftbacktest misses |\n|---|---:|---:|\n'
# size,ways,line: 32 KiB (cachegrind's usual default), 64 KiB (the ninth session's host), larger.
for spec in 32768,8,64 65536,16,64 98304,24,64 131072,16,64 262144,16,64; do
  kib=$(( ${spec%%,*} / 1024 ))
  printf '| %s KiB | %s | %s |\n' "$kib" "$(misses "$spec" "sbs3:engine:$events")" \
    "$(misses "$spec" "sbs3:hbt:$events")"
done
