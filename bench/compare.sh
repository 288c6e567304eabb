#!/usr/bin/env bash
# Scrape-and-store comparison of sidewatch with Prometheus on the reference workload, both in
# the same run, on loopback only. Prints CPU seconds per scrape, scrape duration and RSS for
# each and their ratios.
#
#   bench/compare.sh                 # 100k series, scrape every 5 s, 120 s measured
#   SERIES=10000 DURATION=60 bench/compare.sh
#
# sidewatch starts from a checkpoint holding 100k series x 1 h at 15 s (written just before by
# `cargo bench --bench store_size`, with samples ending now), so it holds the hour while it
# scrapes. Prometheus (Debian's package, installed if missing) starts empty, as in the figures
# of ../shared/bench/README.md; BACKFILL=1 first loads the same hour into it with
# `promtool tsdb create-blocks-from openmetrics` (slow: ~2.4 GB of OpenMetrics text).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh   # DATA, GEN, CARGO_TARGET_DIR, Prometheus installed, helpers
SERIES=${SERIES:-100000}
DURATION=${DURATION:-120}
INTERVAL=${INTERVAL:-5}
WARMUP=${WARMUP:-20}
BACKFILL=${BACKFILL:-0}
RULES=${RULES:-0}     # 1: both also evaluate ../shared/bench/alerts-24.yml every 5 s
RULE_FILE=$(cd "$(dirname "$0")/../.." && pwd)/shared/bench/alerts-24.yml

# TPORT: the target's port (it is in the `instance` label, so a STORE_FILE must match it);
# STORE_FILE: start sidewatch from that checkpoint instead of writing one with store_size;
# SW_BIN: run that sidewatch binary (and build nothing).
TPORT=${TPORT:-$(free_port)}; SWPORT=$(free_port); PPORT=$(free_port)
SNAPS="$DATA/snaps-$((SERIES / 1000))k-32"
[ -f "$SNAPS/snap_0031.prom" ] || python3 "$GEN" --series "$SERIES" --snapshots 32 --step "$INTERVAL" --outdir "$SNAPS"
WORK=$(mktemp -d)
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
PIDS=()
trap cleanup EXIT

# With BACKFILL=1 both get the same hour, ending at END_S: Prometheus through promtool blocks,
# sidewatch through store_size's checkpoint (so neither has more data than the other).
END_S=${END_S:-$(( $(date +%s) - 60 ))}
if [ "$BACKFILL" = 1 ]; then
  echo "== backfilling Prometheus with the same hour (promtool tsdb create-blocks-from openmetrics)"
  python3 bench/hour_om.py "$DATA/snaps-100k-240" "$END_S" "127.0.0.1:$TPORT" > "$WORK/hour.om"
  promtool tsdb create-blocks-from openmetrics "$WORK/hour.om" "$WORK/prom" >/dev/null
  rm -f "$WORK/hour.om"
fi

echo "== building sidewatch (release) and writing the 1h checkpoint"
[ -n "${SW_BIN:-}" ] || cargo build --release --quiet
if [ -n "${STORE_FILE:-}" ]; then
  cp "$STORE_FILE" "$WORK/sw.store"
elif [ "$SERIES" = 100000 ]; then
  SIDEWATCH_BENCH_INSTANCE="127.0.0.1:$TPORT" SIDEWATCH_BENCH_END_S=$([ "$BACKFILL" = 1 ] && echo "$END_S") cargo bench --quiet --bench store_size 2>/dev/null | tee "$WORK/store_size.txt"
  cp "$DATA/store-100k-1h.store" "$WORK/sw.store"
fi


python3 bench/serve.py --dir "$SNAPS" --port "$TPORT" --interval "$INTERVAL" --seconds $((DURATION + WARMUP + 120)) &
PIDS+=($!)

RF=""; [ "$RULES" = 1 ] && RF=$RULE_FILE
start_prometheus "$WORK" "$TPORT" "$PPORT" "$INTERVAL" "$INTERVAL" "$RF"
# STORE_EXTRA: more [store] settings, e.g. 'sealed_chunks = "memory"'.
start_sidewatch "$WORK" "$TPORT" "$SWPORT" "$INTERVAL" "$INTERVAL" $'checkpoint_path = "sw.store"\ncheckpoint_interval = "1h"\n'"${STORE_EXTRA:-}" "$RF"

echo "== warming up ${WARMUP}s, then measuring ${DURATION}s (scrape every ${INTERVAL}s)"
sleep "$WARMUP"
c0s=$(cpu $SWPID); c0p=$(cpu $PPID_)
rs=(); rp=()
: > "$WORK/groups.txt"
for _ in $(seq 1 "$DURATION"); do
  sleep 1
  rs+=("$(rss $SWPID)"); rp+=("$(rss $PPID_)")
  if [ "$RULES" = 1 ]; then   # each group's last duration, sampled every second, for medians
    curl -s "127.0.0.1:$SWPORT/metrics" | awk '/^sidewatch_rule_group_last_duration_seconds/ {print "sidewatch", $1, $2}' >> "$WORK/groups.txt"
    curl -s "127.0.0.1:$PPORT/metrics" | awk '/^prometheus_rule_group_last_duration_seconds/ {print "prometheus", $1, $2}' >> "$WORK/groups.txt"
  fi
done
c1s=$(cpu $SWPID); c1p=$(cpu $PPID_)
# Where each process's resident memory is at the end: anonymous (heap) vs file-backed pages.
for who in sidewatch:$SWPID Prometheus:$PPID_; do
  awk -v who="${who%%:*}" '/^(Rss|Anonymous|Shared_Clean|Private_Clean|Private_Dirty):/ {printf "%s%s %s %.1f MiB", sep, who, $1, $2/1024; sep="  "; who=""} END {print ""}' "/proc/${who#*:}/smaps_rollup" >> "$WORK/smaps.txt"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
sw_dur=$(curl -s "127.0.0.1:$SWPORT/api/v1/targets" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["activeTargets"][0]["lastScrapeDuration"])')
sw_series=$(curl -s "127.0.0.1:$SWPORT/metrics" | awk '/^sidewatch_store_series / {print $2}')
p_dur=$(curl -s "127.0.0.1:$PPORT/api/v1/query?query=scrape_duration_seconds" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "nan")')
scrapes=$(( DURATION / INTERVAL ))
python3 - "$c0s" "$c1s" "$c0p" "$c1p" "$scrapes" "$(median "${rs[@]}")" "$(hwm $SWPID)" "$(median "${rp[@]}")" "$(hwm $PPID_)" "$sw_dur" "$p_dur" "$SERIES" "$sw_series" <<'PY'
import sys
c0s, c1s, c0p, c1p, n, rs, hs, rp, hp = map(float, sys.argv[1:10])
sd, pd, series, sws = sys.argv[10], sys.argv[11], sys.argv[12], sys.argv[13]
sw_cpu = (c1s - c0s) / 100 / n
p_cpu = (c1p - c0p) / 100 / n
print(f"\nworkload: {series} series, {int(n)} scrapes measured; sidewatch store holds {sws} series")
print(f"{'':28}{'sidewatch':>12}{'Prometheus':>12}{'ratio':>8}")
print(f"{'CPU seconds per scrape':28}{sw_cpu:12.4f}{p_cpu:12.4f}{sw_cpu / p_cpu if p_cpu else float('nan'):8.3f}")
print(f"{'last scrape duration (s)':28}{float(sd):12.4f}{float(pd):12.4f}{float(sd) / float(pd):8.3f}")
print(f"{'RSS median (MiB)':28}{rs / 1024:12.1f}{rp / 1024:12.1f}{rs / rp:8.3f}")
print(f"{'RSS peak (MiB)':28}{hs / 1024:12.1f}{hp / 1024:12.1f}{hs / hp:8.3f}")
PY
echo "resident memory at the end (smaps_rollup):"; sed 's/^/  /' "$WORK/smaps.txt"

if [ "$RULES" = 1 ]; then
  echo
  echo "rule groups (alerts-24.yml, every 5 s): last evaluation duration and missed iterations"
  curl -s "127.0.0.1:$SWPORT/metrics" | grep -E '^sidewatch_rule_group_(last_duration_seconds|iterations_missed_total)' | sed 's/^/  sidewatch  /'
  curl -s "127.0.0.1:$PPORT/metrics" | grep -E '^prometheus_rule_group_(last_duration_seconds|iterations_missed_total)' | sed 's/^/  Prometheus /'
  python3 - "$WORK/groups.txt" <<'PY'
import re, statistics, sys
d = {}
for line in open(sys.argv[1]):
    who, metric, v = line.split()
    g = re.search(r'rule_group="[^"]*;([^"]+)"', metric) or re.search(r'\bgroup="([^"]+)"', metric)
    d.setdefault((g.group(1) if g else metric, who), []).append(float(v))
print("  median of per-second samples of each group's last duration over the measured window:")
for grp in sorted({k[0] for k in d}):
    s, p = d.get((grp, "sidewatch"), []), d.get((grp, "prometheus"), [])
    if s and p:
        ms, mp = statistics.median(s), statistics.median(p)
        print(f"  {grp:<16} sidewatch {ms:.4f} s  Prometheus {mp:.4f} s  Prometheus/sidewatch {mp / ms if ms else float('nan'):.1f}x  ({len(s)}/{len(p)} samples)")
PY
  curl -s "127.0.0.1:$SWPORT/api/v1/rules" | python3 -c 'import json,sys; g=json.load(sys.stdin)["data"]["groups"]; print("  sidewatch rules with errors:", sum(1 for x in g for r in x["rules"] if r["health"]!="ok"))'
fi
