# Shared by the bench scripts (sourced from the repository root): where snapshots live, the
# workload generator, Prometheus installed (Debian's package) with its own service stopped,
# ports, /proc readers, and starting Prometheus and sidewatch against one loopback target.
# Callers set PIDS before starting processes.

DATA=${SIDEWATCH_BENCH_DATA:-$HOME/.cache/sw-bench}
export SIDEWATCH_BENCH_DATA=$DATA
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sidewatch-target}
GEN=../shared/bench/gen_metrics.py
[ -f "$GEN" ] || { echo "needs ../shared/bench/gen_metrics.py beside this clone"; exit 1; }
command -v prometheus >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
pkill -xf /usr/bin/prometheus 2>/dev/null || true   # the package's own service (:9090), not another benchmark's

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }      # clock ticks (1/100 s)
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }   # KiB
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# start_prometheus DIR TARGET_PORT PORT SCRAPE_INTERVAL_S TIMEOUT_S [RULE_FILE]: sets PPID_.
start_prometheus() {
  local dir=$1 tport=$2 port=$3 interval=$4 timeout=$5 rules=${6:-}
  local rule_line=""
  [ -n "$rules" ] && rule_line="rule_files: [\"$rules\"]"
  cat > "$dir/prometheus.yml" <<YML
global: { scrape_interval: ${interval}s, scrape_timeout: ${timeout}s, evaluation_interval: 5s }
$rule_line
scrape_configs:
  - job_name: api
    static_configs: [{ targets: ["127.0.0.1:$tport"] }]
YML
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prom" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=2h >"$dir/prom.log" 2>&1 &
  PPID_=$!; PIDS+=($PPID_)
}

# start_sidewatch DIR TARGET_PORT PORT SCRAPE_INTERVAL_S TIMEOUT_S STORE_TOML [RULE_FILE]: sets SWPID.
start_sidewatch() {
  local dir=$1 tport=$2 port=$3 interval=$4 timeout=$5 store=$6 rules=${7:-}
  cat > "$dir/sidewatch.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[storage]
url = "sqlite://sw.db"
[log]
level = "warn"
[scrape]
interval = "${interval}s"
timeout = "${timeout}s"
[store]
$store
[rules]
files = [$( [ -n "$rules" ] && echo "\"$rules\"" )]
evaluation_interval = "5s"
[[targets]]
name = "api"
metrics_url = "http://127.0.0.1:$tport/metrics"
TOML
  "${SW_BIN:-$CARGO_TARGET_DIR/release/sidewatch}" --config "$dir/sidewatch.toml" run 2>"$dir/sw.log" &
  SWPID=$!; PIDS+=($SWPID)
}
