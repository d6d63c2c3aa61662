#!/usr/bin/env bash
# Side-by-side benchmark: Portcullis vs Mosquitto (Debian's), same load generator, same machine,
# same run. Writes bench/RESULTS.md and the raw JSON lines into bench/out/<stamp>/raw.jsonl.
# See bench/README.md for the scenarios. Durations and sizes come from the environment:
#   BENCH_ROUNDS (3) BENCH_DURATION (4 s per pub/sub run) BENCH_DRAIN (5)
#   BENCH_IDLE_N (19500) BENCH_IDLE_HOLD (5) BENCH_X5C_N (5000) BENCH_PW_N (5000) BENCH_MTLS_N (2000)
#   BENCH_CONCURRENCY (64) BENCH_BACKLOG_CONCURRENCY (200: the storms again, above Mosquitto's backlog of 100)
#   BENCH_THREADS (1: client io_context threads)
#   BENCH_SCENARIOS ("pubsub half durable idle auth"; half needs pubsub's results in the same run)
#   BENCH_BUILD_DIR (build) PORTCULLIS_BIN / PORTCULLIS_BENCH_BIN / MOSQUITTO_BIN
#   BENCH_NOTE (free text for RESULTS.md, e.g. how busy the machine was)
#   BENCH_RESULTS (bench/RESULTS.md: where the report goes)
#   BENCH_NOTES_FILE (markdown appended to RESULTS.md as "Observations")
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build}
PORTCULLIS=${PORTCULLIS_BIN:-$BUILD_DIR/broker/portcullis}
BENCH=${PORTCULLIS_BENCH_BIN:-$BUILD_DIR/bench/portcullis-bench}
MOSQUITTO=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-4}
DRAIN=${BENCH_DRAIN:-5}
IDLE_N=${BENCH_IDLE_N:-19500}
IDLE_HOLD=${BENCH_IDLE_HOLD:-5}
X5C_N=${BENCH_X5C_N:-5000}
PW_N=${BENCH_PW_N:-5000}
MTLS_N=${BENCH_MTLS_N:-2000}
CONC=${BENCH_CONCURRENCY:-64}
BACKLOG_CONC=${BENCH_BACKLOG_CONCURRENCY:-200}
THREADS=${BENCH_THREADS:-1}
SCENARIOS=${BENCH_SCENARIOS:-pubsub half durable idle auth}
TOOLS="python3 $ROOT/bench/bench_tools.py"

for bin in "$PORTCULLIS" "$BENCH" "$MOSQUITTO"; do
  [[ -x $bin ]] || { echo "run.sh: missing executable $bin (build first: cmake --build $BUILD_DIR)" >&2; exit 1; }
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/out/$STAMP
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
CMDS=$OUT/commands.txt
: >"$RAW"
: >"$CMDS"
ulimit -n "$(ulimit -Hn)"  # brokers inherit it: 19,500 idle connections need it

P_PID="" M_PID="" MN_PID=""
cleanup() {
  for pid in $P_PID $M_PID $MN_PID; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in $P_PID $M_PID $MN_PID; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- PKI and credentials (once) ------------------------------------------------------------
PKI=$OUT/pki
mkdir -p "$PKI"
log "PKI: tenant CA, server certificate, $X5C_N x5c tokens, $MTLS_N mTLS certificates, $PW_N passwords"
"$PORTCULLIS" pki ca --cn "Bench Tenant CA" --out-cert "$PKI/ca.crt" --out-key "$PKI/ca.key" >/dev/null
"$PORTCULLIS" pki server --cn localhost --ca-cert "$PKI/ca.crt" --ca-key "$PKI/ca.key" \
  --out-cert "$PKI/server.crt" --out-key "$PKI/server.key" >/dev/null
"$BENCH" mint --ca-cert "$PKI/ca.crt" --ca-key "$PKI/ca.key" --count "$X5C_N" --prefix bench-x5c-device- \
  --tokens-out "$PKI/tokens.txt" --tenant bench --lifetime 3600 >&2
"$BENCH" mint --ca-cert "$PKI/ca.crt" --ca-key "$PKI/ca.key" --count "$MTLS_N" --prefix bench-mtls-device- \
  --cert-dir "$PKI/mtls" --client-auth >&2
: >"$PKI/passwords.txt"
: >"$PKI/mosquitto.pw"
for ((i = 0; i < PW_N; i++)); do
  printf -v user 'bench-pw-user-%06d' "$i"
  pass="pw-$RANDOM$RANDOM-$i"
  echo "$user $pass" >>"$PKI/passwords.txt"
  echo "$user:$pass" >>"$PKI/mosquitto.pw"
done
mosquitto_passwd -U "$PKI/mosquitto.pw"  # hashes every plaintext entry in place (PBKDF2-SHA512)

# ---- broker configs ------------------------------------------------------------------------
write_portcullis_config() {
  cat >"$1" <<EOF
{
  "listeners": [
    {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
    {"name": "x5c", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"]},
    {"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["mtls"],
     "tls": {"cert": "$PKI/server.crt", "key": "$PKI/server.key", "client_certs": "optional"}},
    {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}
  ],
  "limits": {"rate": {"enabled": false}, "max_queued_messages": 1000, "max_inflight": 20, "max_connections": 100000},
  "auth": {"client_id": {"min_length": 0}, "provisioning": {"agents_per_tenant": 100000}}
}
EOF
}

M_PORT=$($TOOLS free-port)
M_TLS_PORT=$($TOOLS free-port)
MN_PORT=$($TOOLS free-port)
# Equivalent to the Portcullis bench config: QoS queue/in-flight limits alike, no persistence,
# anonymous pub/sub, password_file for the password storm, mTLS listener. TCP options are
# Debian's defaults (set_tcp_nodelay false: Nagle on), the Mosquitto issue #7 compares with.
# A second instance with set_tcp_nodelay true runs the half-load scenarios too: the stricter
# comparison, since Portcullis always sets TCP_NODELAY.
# Running as root, Mosquitto would drop to user "mosquitto", who cannot read the 0600 keys here.
mosquitto_conf() {  # PORT TLS_PORT|"" NODELAY
  cat <<EOF
user $(id -un)
per_listener_settings false
allow_anonymous true
password_file $PKI/mosquitto.pw
persistence false
max_queued_messages 1000
max_inflight_messages 20
max_connections -1
set_tcp_nodelay $3
log_dest stderr
log_type error
log_type warning
listener $1 127.0.0.1
EOF
  if [[ -n $2 ]]; then
    cat <<EOF
listener $2 127.0.0.1
cafile $PKI/ca.crt
certfile $PKI/server.crt
keyfile $PKI/server.key
require_certificate true
use_identity_as_username true
EOF
  fi
}
mosquitto_conf "$M_PORT" "$M_TLS_PORT" false >"$OUT/mosquitto.conf"
mosquitto_conf "$MN_PORT" "" true >"$OUT/mosquitto-nodelay.conf"

P_N=0
start_portcullis() {
  P_N=$((P_N + 1))
  local dir=$OUT/portcullis$P_N
  mkdir -p "$dir/var"
  write_portcullis_config "$dir/portcullis.json"
  "$PORTCULLIS" serve --config "$dir/portcullis.json" --data-dir "$dir/var" --log-level warn \
    >"$dir/broker.log" 2>&1 &
  P_PID=$!
  # sets P_PORT_mqtt, P_PORT_x5c, P_PORT_mqtts, P_PORT_admin
  eval "$($TOOLS wait-ports "$dir/var/ports.json" mqtt x5c mqtts admin | sed 's/^/P_PORT_/')"
  P_DIR=$dir
  # shellcheck disable=SC2154  # assigned by the eval above
  log "portcullis pid $P_PID: mqtt $P_PORT_mqtt x5c $P_PORT_x5c mqtts $P_PORT_mqtts admin $P_PORT_admin"
}
stop_portcullis() {
  kill -TERM "$P_PID" 2>/dev/null || true
  local rc=0
  wait "$P_PID" || rc=$?
  [[ $rc == 0 ]] || log "WARNING: portcullis exited $rc (log: $P_DIR/broker.log)"
  P_PID=""
}
start_mosquitto() {
  "$MOSQUITTO" -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 &
  M_PID=$!
  "$MOSQUITTO" -c "$OUT/mosquitto-nodelay.conf" >"$OUT/mosquitto-nodelay.log" 2>&1 &
  MN_PID=$!
  for port in "$M_PORT" "$MN_PORT"; do
    for _ in $(seq 100); do
      if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then break; fi
      sleep 0.05
    done
  done
  kill -0 "$M_PID" 2>/dev/null || { echo "run.sh: mosquitto failed to start:" >&2; cat "$OUT/mosquitto.log" >&2; exit 1; }
  kill -0 "$MN_PID" 2>/dev/null || { echo "run.sh: mosquitto (nodelay) failed to start:" >&2; cat "$OUT/mosquitto-nodelay.log" >&2; exit 1; }
  log "mosquitto pid $M_PID: mqtt $M_PORT tls $M_TLS_PORT; with set_tcp_nodelay true: pid $MN_PID mqtt $MN_PORT"
}
stop_mosquitto() {
  kill -TERM "$M_PID" "$MN_PID" 2>/dev/null || true
  wait "$M_PID" || true
  wait "$MN_PID" || true
  M_PID=""
  MN_PID=""
}

# run_case ROUND BROKER SCENARIO MODE ARGS... : one bench run, JSON line (+round) appended to raw.jsonl
run_case() {
  local round=$1 broker=$2 scenario=$3 mode=$4
  shift 4
  local pid
  case $broker in
    portcullis) pid=$P_PID ;;
    mosquitto_nodelay) pid=$MN_PID ;;
    *) pid=$M_PID ;;
  esac
  local cmd=("$BENCH" "$mode" --broker "$broker" --label "$scenario" --broker-pid "$pid" --threads "$THREADS" "$@")
  echo "${cmd[*]}" >>"$CMDS"
  $TOOLS wait-idle "$pid"
  local line rc=0
  line=$("${cmd[@]}" 2>>"$OUT/bench.stderr") || rc=$?
  if [[ -z $line ]]; then
    log "$scenario/$broker round $round: no result (exit $rc)"
    return 0
  fi
  echo "${line%\}}, \"round\": $round, \"exit\": $rc}" >>"$RAW"
  log "$scenario/$broker r$round: $(echo "$line" | cut -c1-220)"
}

# pub/sub scenarios: name -> bench arguments (the topic mapping is the same for both brokers)
declare -A PUBSUB=(
  [q0_fanin]="-P 16 -S 1 -T 16 --subscribe-all --qos 0 --payload 64"
  [q0_fanout]="-P 1 -S 16 -T 1 --qos 0 --payload 64"
  [q1_64]="-P 16 -S 16 -T 16 --qos 1 --payload 64"
  [q1_1k]="-P 16 -S 16 -T 16 --qos 1 --payload 1024"
)
declare -A PUBLISHERS=([q0_fanin]=16 [q0_fanout]=1 [q1_64]=16 [q1_1k]=16)
declare -A FANOUT=([q0_fanin]=1 [q0_fanout]=16 [q1_64]=1 [q1_1k]=1)  # deliveries per publish
ORDER=(q0_fanin q0_fanout q1_64 q1_1k)

order_for() { if (($1 % 2)); then echo "portcullis mosquitto"; else echo "mosquitto portcullis"; fi; }
# The half-load runs go to Mosquitto with set_tcp_nodelay true as well (see mosquitto_conf).
order3_for() { if (($1 % 2)); then echo "portcullis mosquitto mosquitto_nodelay"; else echo "mosquitto_nodelay mosquitto portcullis"; fi; }
port_for() {
  case $1 in
    portcullis) echo "$P_PORT_mqtt" ;;
    mosquitto_nodelay) echo "$MN_PORT" ;;
    *) echo "$M_PORT" ;;
  esac
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
HALF_RATES=""
# The tree may move while the run goes on: record what was measured, at the start.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then COMMIT+=" + uncommitted changes"; fi
BIN_TIME=$(date -u -r "$PORTCULLIS" +%Y-%m-%dT%H:%M:%SZ)
start_portcullis
start_mosquitto

if [[ " $SCENARIOS " == *" pubsub "* ]]; then
  for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${ORDER[@]}"; do
      for b in $(order_for "$r"); do
        # shellcheck disable=SC2086
        run_case "$r" "$b" "${s}_sat" pubsub --port "$(port_for "$b")" ${PUBSUB[$s]} --duration "$DURATION" --drain "$DRAIN"
      done
    done
  done
fi

metrics() { curl -s --max-time 5 "http://127.0.0.1:$P_PORT_admin/metrics" >"$OUT/portcullis-metrics-$1.txt" || true; }
metrics after-saturation

if [[ " $SCENARIOS " == *" half "* ]]; then
  declare -A RATE
  for s in "${ORDER[@]}"; do
    RATE[$s]=$($TOOLS half-rate "$RAW" "${s}_sat" "${PUBLISHERS[$s]}" "${FANOUT[$s]}")
    log "half load $s: ${RATE[$s]} msg/s per publisher (half the slower broker's delivered msgs/s at saturation)"
    HALF_RATES+="$s ${RATE[$s]} msg/s per publisher; "
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${ORDER[@]}"; do
      for b in $(order3_for "$r"); do
        # shellcheck disable=SC2086
        run_case "$r" "$b" "${s}_half" pubsub --port "$(port_for "$b")" ${PUBSUB[$s]} --duration "$DURATION" \
          --drain "$DRAIN" --rate "${RATE[$s]}"
      done
    done
  done
fi

metrics after-half-load

# Durable sessions (issue #6): QoS 1 with 100 subscribers, persistent (CleanSession=0) vs clean, same
# run. Persistent subscribers make Portcullis commit every message to SQLite before the PUBACK;
# Mosquitto (persistence false, as for every scenario here) keeps them in memory only: its figures
# are context, the target is Portcullis persistent / Portcullis clean >= 0.5.
DURABLE_ARGS="-P 10 -S 100 -T 10 --qos 1 --payload 64"
if [[ " $SCENARIOS " == *" durable "* ]]; then
  for ((r = 1; r <= ROUNDS; r++)); do
    for b in $(order_for "$r"); do
      if ((r % 2)); then kinds="clean persistent"; else kinds="persistent clean"; fi
      for k in $kinds; do
        flag=""
        [[ $k == persistent ]] && flag="--persistent"
        # shellcheck disable=SC2086
        run_case "$r" "$b" "q1_durable_$k" pubsub --port "$(port_for "$b")" $DURABLE_ARGS $flag --duration "$DURATION" \
          --drain "$DRAIN"
      done
    done
  done
  metrics after-durable
fi

# Restarts Portcullis with an empty data dir and onboards the bench tenant's CA.
fresh_portcullis_with_tenant() {
  stop_portcullis
  start_portcullis
  $TOOLS onboard "$P_PORT_admin" "$P_DIR/var/admin.token" bench "$PKI/ca.crt" "$PKI/ca.key" "$PORTCULLIS" "$P_DIR" >&2
}
if [[ " $SCENARIOS " == *" idle "* ]]; then
  for ((r = 1; r <= ROUNDS; r++)); do
    # Fresh processes: after the pub/sub load both heaps hold freed memory that new connections
    # would reuse without growing the RSS, which would understate the cost per connection.
    stop_portcullis
    stop_mosquitto
    start_portcullis
    start_mosquitto
    for b in $(order_for "$r"); do
      run_case "$r" "$b" idle idle --port "$(port_for "$b")" -n "$IDLE_N" -c 256 --hold "$IDLE_HOLD"
    done
  done
  # Idle mTLS devices (no target in issue #7; what a TLS connection costs at rest). Fresh
  # processes again; the devices' first connects, so Portcullis's figure includes binding and
  # provisioning them.
  for ((r = 1; r <= ROUNDS; r++)); do
    fresh_portcullis_with_tenant
    stop_mosquitto
    start_mosquitto
    for b in $(order_for "$r"); do
      if [[ $b == portcullis ]]; then port=$P_PORT_mqtts; else port=$M_TLS_PORT; fi
      run_case "$r" "$b" mtls_idle idle --port "$port" --cert-dir "$PKI/mtls" -n "$MTLS_N" -c "$CONC" --hold "$IDLE_HOLD"
    done
  done
fi

if [[ " $SCENARIOS " == *" auth "* ]]; then
  for ((r = 1; r <= ROUNDS; r++)); do
    metrics "before-auth-round$r"
    # A fresh Portcullis (empty data dir) per round, so the first x5c/mTLS connects are really cold.
    fresh_portcullis_with_tenant
    run_case "$r" portcullis x5c_cold connect --port "$P_PORT_x5c" --tokens "$PKI/tokens.txt" -n "$X5C_N" -c "$CONC"
    run_case "$r" mosquitto password connect --port "$M_PORT" --credentials "$PKI/passwords.txt" -n "$PW_N" -c "$CONC"
    run_case "$r" portcullis x5c_warm connect --port "$P_PORT_x5c" --tokens "$PKI/tokens.txt" -n "$X5C_N" -c "$CONC"
    run_case "$r" portcullis mtls_cold connect --port "$P_PORT_mqtts" --cert-dir "$PKI/mtls" -n "$MTLS_N" -c "$CONC"
    run_case "$r" mosquitto mtls connect --port "$M_TLS_PORT" --cert-dir "$PKI/mtls" -n "$MTLS_N" -c "$CONC"
    run_case "$r" portcullis mtls_warm connect --port "$P_PORT_mqtts" --cert-dir "$PKI/mtls" -n "$MTLS_N" -c "$CONC"
    # The listen-backlog case of issue #7: the same storms at a concurrency above Mosquitto's
    # fixed backlog of 100 (a full accept queue drops SYNs; the client retries after 1 s).
    # Again a fresh Portcullis, so the first x5c connects are cold.
    fresh_portcullis_with_tenant
    run_case "$r" portcullis x5c_cold_c200 connect --port "$P_PORT_x5c" --tokens "$PKI/tokens.txt" -n "$X5C_N" -c "$BACKLOG_CONC"
    run_case "$r" mosquitto password_c200 connect --port "$M_PORT" --credentials "$PKI/passwords.txt" -n "$PW_N" -c "$BACKLOG_CONC"
    run_case "$r" portcullis x5c_warm_c200 connect --port "$P_PORT_x5c" --tokens "$PKI/tokens.txt" -n "$X5C_N" -c "$BACKLOG_CONC"
  done
fi

metrics end
stop_portcullis
stop_mosquitto
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$OUT/env.json" <<EOF
import json, os, platform, subprocess, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd="$ROOT").stdout.strip()
    except OSError:
        return "?"
json.dump({
    "date": "$STAMP",
    "nproc": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
    "load_before": "$LOAD_BEFORE", "load_after": "$LOAD_AFTER",
    "host_note": os.environ.get("BENCH_NOTE", "shared 2-core machine; other builds/tests may have been running"),
    "portcullis": "tree at start: commit $COMMIT; binary $PORTCULLIS built $BIN_TIME",
    "mosquitto": out("$MOSQUITTO", "-h").splitlines()[0] if out("$MOSQUITTO", "-h") else "?",
    "rounds": "$ROUNDS",
    "half_load_rates": "$HALF_RATES",
    "durations": "pub/sub $DURATION s (+ drain up to $DRAIN s), idle $IDLE_N conns held $IDLE_HOLD s, "
                 "x5c $X5C_N, password $PW_N, mTLS $MTLS_N devices, connect concurrency $CONC (and $BACKLOG_CONC for the backlog storms)",
    "client": "portcullis-bench, $THREADS io_context thread(s), on the same machine as the brokers",
    "raw_path": "bench/out/$STAMP/raw.jsonl",
    "notes": open(os.environ["BENCH_NOTES_FILE"]).read() if os.environ.get("BENCH_NOTES_FILE") else "",
}, open(sys.argv[1], "w"), indent=1)
EOF
# shellcheck disable=SC2016  # the $PID/$PORT placeholders are meant literally
sed -E -e "s#$OUT#\$OUT#g" -e "s#$ROOT/##g" -e 's/--broker-pid [0-9]+/--broker-pid $PID/' -e 's/--port [0-9]+/--port $PORT/' \
  -e 's/--rate [0-9.]+/--rate $HALF_RATE/' "$CMDS" | awk '!seen[$0]++' >"$OUT/commands.md.txt"
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
$TOOLS report "$RAW" "$OUT/env.json" "$OUT/commands.md.txt" "$RESULTS"
log "wrote $RESULTS (raw: $RAW)"
