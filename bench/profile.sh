#!/usr/bin/env bash
# Where sidewatch's CPU goes: runs it alone (no Prometheus) from the 1 h checkpoint of the
# reference workload, scraping 100k series every 5 s (RULES=1: also evaluating
# ../shared/bench/alerts-24.yml), and records it with `perf record` (Debian's linux-perf) after
# a warm-up. Prints CPU seconds per 5 s over the recording (perf adds some) and the rule groups'
# last durations, and leaves perf.data in OUT for `perf report -i OUT/perf.data`.
#
#   RULES=1 bench/profile.sh
#   RULES=1 PERF_OPTS="-F 197 --call-graph dwarf,32768" SECONDS_=20 bench/profile.sh   # call stacks
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh   # DATA, GEN, CARGO_TARGET_DIR, helpers
command -v perf >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
RULES=${RULES:-0}
WARMUP=${WARMUP:-60}
SECONDS_=${SECONDS_:-40}
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
RULE_FILE=$(cd "$(dirname "$0")/../.." && pwd)/shared/bench/alerts-24.yml
SNAPS="$DATA/snaps-100k-32"
[ -f "$SNAPS/snap_0031.prom" ] || python3 "$GEN" --series 100000 --snapshots 32 --step 5 --outdir "$SNAPS"
TPORT=${TPORT:-$(free_port)}; SWPORT=$(free_port)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

echo "== writing the 1 h checkpoint (cargo bench --bench store_size), samples ending now"
[ -n "${SW_BIN:-}" ] || cargo build --release --quiet --bins --benches   # the same features as `cargo bench`
SIDEWATCH_BENCH_INSTANCE="127.0.0.1:$TPORT" SIDEWATCH_BENCH_END_S=$(( $(date +%s) - 20 )) \
  cargo bench --quiet --bench store_size 2>/dev/null > "$OUT/store_size.txt"
cp "$DATA/store-100k-1h.store" "$OUT/sw.store"

python3 bench/serve.py --dir "$SNAPS" --port "$TPORT" --interval 5 --seconds $((WARMUP + SECONDS_ + 60)) &
PIDS+=($!)
RF=""; [ "$RULES" = 1 ] && RF=$RULE_FILE
start_sidewatch "$OUT" "$TPORT" "$SWPORT" 5 5 $'checkpoint_path = "sw.store"\ncheckpoint_interval = "1h"\n' "$RF"
echo "== warming up ${WARMUP}s, then recording ${SECONDS_}s"
sleep "$WARMUP"
c0=$(cpu "$SWPID")
# shellcheck disable=SC2086 # PERF_OPTS is a list of options
perf record ${PERF_OPTS:--F 499 -g} -p "$SWPID" -o "$OUT/perf.data" -- sleep "$SECONDS_" 2>"$OUT/perf.err" >/dev/null
c1=$(cpu "$SWPID")
echo "CPU seconds per 5 s while recorded: $(python3 -c "print(round(($c1 - $c0) / 100 / ($SECONDS_ / 5), 4))"), RSS $(( $(rss "$SWPID") / 1024 )) MiB"
curl -s "127.0.0.1:$SWPORT/metrics" | grep -E '^sidewatch_rule_group_last_duration|^sidewatch_store_series ' || true
echo "perf report -i $OUT/perf.data --no-children --sort dso,symbol"
