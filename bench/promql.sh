#!/usr/bin/env bash
# PromQL evaluation: sidewatch and Prometheus on the same hour of the reference workload
# (100k series x 240 scrapes at 15 s), in the same run, on loopback only. Prometheus (Debian's
# package, installed if missing) gets the hour through `promtool tsdb create-blocks-from
# openmetrics`; sidewatch ingests the same snapshots with the same timestamps in
# `cargo bench --bench promql`, which evaluates each expression in both (Prometheus via its
# API with stats=all) and prints the side-by-side table and the CPU of one pass over the 24.
#
#   bench/promql.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh   # DATA, GEN, CARGO_TARGET_DIR, Prometheus installed, helpers
SNAPS="$DATA/snaps-100k-240"
[ -f "$SNAPS/snap_0239.prom" ] || python3 "$GEN" --series 100000 --snapshots 240 --step 15 --outdir "$SNAPS"
# Reuse an earlier backfill (its name holds the hour's end); Prometheus reads past data fine.
EXISTING=$(ls -d "$DATA"/prom-* 2>/dev/null | head -1 || true)
if [ -n "$EXISTING" ]; then END_MS=${EXISTING##*/prom-}; else END_MS=$(( $(date +%s) / 15 * 15 * 1000 - 60000 )); fi
WORK=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [ ! -d "$DATA/prom-$END_MS" ]; then
  echo "== backfilling Prometheus with the hour ending at $END_MS ms"
  rm -rf "$DATA"/prom-*
  python3 bench/hour_om.py "$SNAPS" $((END_MS / 1000)) 127.0.0.1:8080 > "$WORK/hour.om"
  promtool tsdb create-blocks-from openmetrics "$WORK/hour.om" "$DATA/prom-$END_MS" >/dev/null
  rm -f "$WORK/hour.om"
fi
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo 'global: { scrape_interval: 1h }' > "$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$DATA/prom-$END_MS" \
  --web.listen-address="127.0.0.1:$PPORT" --storage.tsdb.retention.time=30d >"$WORK/prom.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null && break; sleep 1; done
SIDEWATCH_BENCH_END=$END_MS SIDEWATCH_BENCH_PROMETHEUS="http://127.0.0.1:$PPORT" SIDEWATCH_BENCH_PROMETHEUS_PID=${PIDS[0]} \
  cargo bench --quiet --bench promql
