#!/usr/bin/env bash
# A/B of two sidewatch builds in the same run, loopback only: both start empty and scrape the
# same server of the reference workload every INTERVAL seconds (RULES=1: both also evaluate
# ../shared/bench/alerts-24.yml every 5 s) for MINUTES minutes. Samples RSS and CPU of both
# every 10 s and prints medians of the last half, peaks, CPU per scrape interval, store series
# and rule-group durations. No Prometheus: compare each with it through hour.sh/compare.sh.
#
#   SW_A=/tmp/sidewatch-new SW_B=/tmp/sidewatch-old bench/ab.sh
#   RULES=1 MINUTES=4 INTERVAL=5 SW_A=… SW_B=… bench/ab.sh
#   STORE_FILE=~/.cache/sw-bench/store-100k-1h.store TPORT=19517 SW_A=… SW_B=… bench/ab.sh
#
# STORE_FILE: both start from (a copy of) that checkpoint instead of empty, so both hold the
# hour it holds; its `instance` label names the target's port, so set TPORT to that port.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh   # DATA, GEN, helpers
: "${SW_A:?set SW_A and SW_B to two sidewatch binaries}" "${SW_B:?}"
SERIES=${SERIES:-100000}
MINUTES=${MINUTES:-4}
INTERVAL=${INTERVAL:-5}
RULES=${RULES:-0}
RULE_FILE=$(cd "$(dirname "$0")/../.." && pwd)/shared/bench/alerts-24.yml
SNAPS="$DATA/snaps-$((SERIES / 1000))k-32"
[ -f "$SNAPS/snap_0031.prom" ] || python3 "$GEN" --series "$SERIES" --snapshots 32 --step "$INTERVAL" --outdir "$SNAPS"
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT/a" "$OUT/b"
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

TPORT=${TPORT:-$(free_port)}; APORT=$(free_port); BPORT=$(free_port)
python3 bench/serve.py --dir "$SNAPS" --port "$TPORT" --interval "$INTERVAL" --seconds $((MINUTES * 60 + 60)) &
PIDS+=($!)
RF=""; [ "$RULES" = 1 ] && RF=$RULE_FILE
STORE=""
if [ -n "${STORE_FILE:-}" ]; then
  cp "$STORE_FILE" "$OUT/a/sw.store"; cp "$STORE_FILE" "$OUT/b/sw.store"
  STORE=$'checkpoint_path = "sw.store"\ncheckpoint_interval = "1h"'
fi
SW_BIN=$SW_A start_sidewatch "$OUT/a" "$TPORT" "$APORT" "$INTERVAL" "$INTERVAL" "$STORE" "$RF"; A=$SWPID
SW_BIN=$SW_B start_sidewatch "$OUT/b" "$TPORT" "$BPORT" "$INTERVAL" "$INTERVAL" "$STORE" "$RF"; B=$SWPID
echo "== A: $SW_A  B: $SW_B  ($SERIES series every ${INTERVAL}s, rules: $RULES, $MINUTES minutes)"
echo "elapsed_s,a_rss_kib,b_rss_kib,a_cpu_ticks,b_cpu_ticks" > "$OUT/rss.csv"
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt $((MINUTES * 60)) ]; do
  sleep 10
  echo "$(( $(date +%s) - t0 )),$(rss $A),$(rss $B),$(cpu $A),$(cpu $B)" >> "$OUT/rss.csv"
done
for who in A:$A:$APORT B:$B:$BPORT; do
  IFS=: read -r n pid port <<< "$who"
  m=$(curl -s "127.0.0.1:$port/metrics")
  echo "$n: $(grep -E '^(VmHWM|RssAnon|RssFile)' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
  echo "$n: store $(awk '/^sidewatch_store_series / {print $2}' <<< "$m") series;" \
    "rule groups (last duration s): $(awk '/^sidewatch_rule_group_last_duration_seconds/ {printf "%s ", $2}' <<< "$m")"
done
python3 - "$OUT/rss.csv" "$INTERVAL" <<'PY'
import csv, statistics, sys
rows = [list(map(float, r)) for r in list(csv.reader(open(sys.argv[1])))[1:]]
half = [r for r in rows if r[0] >= rows[-1][0] / 2]
a, b = statistics.median(r[1] for r in half), statistics.median(r[2] for r in half)
print(f"RSS median of the last half: A {a / 1024:.1f} MiB, B {b / 1024:.1f} MiB, A/B {a / b:.3f}")
print(f"RSS peak sampled: A {max(r[1] for r in rows) / 1024:.1f} MiB, B {max(r[2] for r in rows) / 1024:.1f} MiB")
n = (rows[-1][0] - rows[0][0]) / float(sys.argv[2])
ca, cb = (rows[-1][3] - rows[0][3]) / 100 / n, (rows[-1][4] - rows[0][4]) / 100 / n
print(f"CPU seconds per {sys.argv[2]} s: A {ca:.4f}, B {cb:.4f}, A/B {ca / cb:.3f}")
PY
