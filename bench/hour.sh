#!/usr/bin/env bash
# A live hour, sidewatch vs Prometheus, same run, loopback only: both start empty and scrape the
# same server of the reference workload (100k series) every 15 s for MINUTES minutes, so each
# holds the same hour of the same workload that it scraped itself (no backfill, no checkpoint
# restore). Samples RSS and CPU of both every 10 s into $OUT/rss.csv and prints RSS and ratios
# at 5, 15, 30, 45 and 60 minutes, the median of the last 5 minutes, and CPU per scrape.
#
#   bench/hour.sh                      # 60 minutes, 100k series, no rules
#   MINUTES=10 SERIES=10000 bench/hour.sh
#   SW_BIN_B=/tmp/sidewatch-old bench/hour.sh   # also run that build beside, for an A/B
#
# Snapshots: 240 consecutive snapshots 15 s apart from ../shared/bench/gen_metrics.py (written
# once to ~/.cache/sw-bench/snaps-<N>k-240, ~2.3 GB at 100k series), served in order, so
# counters grow through the hour without a reset.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh   # DATA, GEN, CARGO_TARGET_DIR, Prometheus installed, helpers
SERIES=${SERIES:-100000}
MINUTES=${MINUTES:-60}
INTERVAL=15
OUT=${OUT:-$(mktemp -d)}

SNAPS="$DATA/snaps-$((SERIES / 1000))k-240"
[ -f "$SNAPS/snap_0239.prom" ] || python3 "$GEN" --series "$SERIES" --snapshots 240 --step "$INTERVAL" --outdir "$SNAPS"
echo "== building sidewatch (release)"
[ -n "${SW_BIN:-}" ] || cargo build --release --quiet   # SW_BIN: run that binary instead

TPORT=$(free_port); SWPORT=$(free_port); PPORT=$(free_port)
mkdir -p "$OUT"
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

SECONDS_TOTAL=$((MINUTES * 60 + 60))
python3 bench/serve.py --dir "$SNAPS" --port "$TPORT" --interval "$INTERVAL" --seconds "$SECONDS_TOTAL" &
PIDS+=($!)
start_prometheus "$OUT" "$TPORT" "$PPORT" "$INTERVAL" 10
# SW_BIN_B: a second sidewatch build (its own directory and port) scraping the same target.
SWPID_B=""
if [ -n "${SW_BIN_B:-}" ]; then
  mkdir -p "$OUT/b"
  SW_BIN=$SW_BIN_B start_sidewatch "$OUT/b" "$TPORT" "$(free_port)" "$INTERVAL" 10 ""
  SWPID_B=$SWPID
fi
start_sidewatch "$OUT" "$TPORT" "$SWPORT" "$INTERVAL" 10 ""
echo "== sampling every 10 s for $MINUTES minutes into $OUT/rss.csv"
echo "elapsed_s,sidewatch_rss_kib,prometheus_rss_kib,sidewatch_cpu_ticks,prometheus_cpu_ticks,b_rss_kib,b_cpu_ticks" > "$OUT/rss.csv"
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt $((MINUTES * 60)) ]; do
  sleep 10
  b=0,0; [ -n "$SWPID_B" ] && b="$(rss $SWPID_B),$(cpu $SWPID_B)"
  echo "$(( $(date +%s) - t0 )),$(rss $SWPID),$(rss $PPID_),$(cpu $SWPID),$(cpu $PPID_),$b" >> "$OUT/rss.csv"
done
cp "$OUT/sw.log" "$OUT/sw-final.log"
grep -E "^(VmHWM|RssAnon|RssFile)" "/proc/$SWPID/status" | sed 's/^/sidewatch  /'
[ -n "$SWPID_B" ] && grep -E "^(VmHWM|RssAnon|RssFile)" "/proc/$SWPID_B/status" | sed 's/^/build B    /'
grep -E "^(VmHWM|RssAnon|RssFile)" "/proc/$PPID_/status" | sed 's/^/Prometheus /'
curl -s "127.0.0.1:$SWPORT/metrics" > "$OUT/sw-metrics.txt"
sw() { awk -v m="$1" '$1 == m {print $2}' "$OUT/sw-metrics.txt"; }
echo "sidewatch store: $(sw sidewatch_store_series) series, $(sw sidewatch_store_samples) samples," \
  "chunks in memory $(sw sidewatch_store_chunk_bytes) B, in chunk files $(sw sidewatch_store_file_chunk_bytes) B," \
  "index $(sw sidewatch_store_index_bytes) B"
python3 - "$OUT/rss.csv" "$INTERVAL" "${SW_BIN_B:+1}" <<'PY'
import csv, statistics, sys
rows = [list(map(float, r)) for r in list(csv.reader(open(sys.argv[1])))[1:]]
interval = float(sys.argv[2])
has_b = sys.argv[3] == "1"
b_head = f"{'build B MiB':>13}{'ratio':>8}" if has_b else ""
print(f"{'minute':>8}{'sidewatch MiB':>15}{'Prometheus MiB':>16}{'ratio':>8}{b_head}")
for m in (5, 15, 30, 45, 60):
    near = [r for r in rows if abs(r[0] - m * 60) <= 10]
    if near:
        r = near[0]
        b = f"{r[5] / 1024:>13.1f}{r[5] / r[2]:>8.3f}" if has_b else ""
        print(f"{m:>8}{r[1] / 1024:>15.1f}{r[2] / 1024:>16.1f}{r[1] / r[2]:>8.3f}{b}")
last = [r for r in rows if r[0] >= rows[-1][0] - 300]
s, p = statistics.median(r[1] for r in last), statistics.median(r[2] for r in last)
print(f"{'last 5 min median':>8}  {s / 1024:.1f} vs {p / 1024:.1f} MiB, ratio {s / p:.3f}")
if has_b:
    b = statistics.median(r[5] for r in last)
    print(f"  build B: {b / 1024:.1f} MiB, ratio {b / p:.3f}; sidewatch / build B {s / b:.3f}")
span = rows[-1][0] - rows[0][0]
scrapes = span / interval
cs, cp = (rows[-1][3] - rows[0][3]) / 100 / scrapes, (rows[-1][4] - rows[0][4]) / 100 / scrapes
print(f"CPU seconds per scrape over the run: sidewatch {cs:.4f}, Prometheus {cp:.4f}, ratio {cs / cp:.3f}")
if has_b:
    cb = (rows[-1][6] - rows[0][6]) / 100 / scrapes
    print(f"  build B: {cb:.4f}, ratio {cb / cp:.3f}")
PY
