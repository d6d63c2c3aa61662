#!/usr/bin/env bash
# A/B of two Portcullis binaries on the x5c connect storms, alternating A and B in the same
# minutes so that the machine's drift (10-20 % between runs here) cancels out:
#
#   bench/ab_storm.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Each round starts each binary fresh (its own data dir), onboards the bench tenant, runs the
# cold storm (5,000 first connects: chain validation + binding + provisioning) and then the
# warm one (the same devices again), and prints the broker CPU per connect and connects/s.
# A change whose effect is smaller than the spread of one bench/run.sh scenario (e.g. -5 %
# broker CPU) shows here as a consistent difference between the A and B lines.
#
# Env: BENCH_BUILD_DIR (build-rel) for portcullis-bench, AB_COUNT (5000), AB_CONCURRENCY (64).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 OLD_BINARY NEW_BINARY [ROUNDS]" >&2
  exit 2
fi
A=$(realpath "$1")
B=$(realpath "$2")
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-rel}
BENCH=$BUILD/bench/portcullis-bench
TOOLS=$ROOT/bench/bench_tools.py
N=${AB_COUNT:-5000}
C=${AB_CONCURRENCY:-64}
for f in "$A" "$B" "$BENCH"; do
  [[ -x $f ]] || { echo "$f: not an executable" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/portcullis-ab.XXXXXX)
PID=
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 20000 2>/dev/null || true

PKI=$WORK/pki
mkdir -p "$PKI"
"$A" pki ca --cn "AB Tenant CA" --out-cert "$PKI/ca.crt" --out-key "$PKI/ca.key" >/dev/null
"$BENCH" mint --ca-cert "$PKI/ca.crt" --ca-key "$PKI/ca.key" --count "$N" --prefix ab-x5c-device- \
  --tokens-out "$PKI/tokens.txt" --tenant bench --lifetime 3600 >/dev/null

# storm BINARY LABEL: fresh broker, cold then warm storm
storm() {
  local bin=$1 label=$2 dir=$WORK/run
  rm -rf "$dir"
  mkdir -p "$dir/var"
  cat >"$dir/portcullis.json" <<EOF
{
  "listeners": [
    {"name": "x5c", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"]},
    {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}
  ],
  "limits": {"rate": {"enabled": false}, "max_connections": 100000},
  "auth": {"client_id": {"min_length": 0}, "provisioning": {"agents_per_tenant": 100000}}
}
EOF
  "$bin" serve --config "$dir/portcullis.json" --data-dir "$dir/var" --log-level warn >"$dir/broker.log" 2>&1 &
  PID=$!
  python3 "$TOOLS" wait-ports "$dir/var/ports.json" x5c admin >/dev/null
  local port admin
  port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['x5c'])" "$dir/var/ports.json")
  admin=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$dir/var/ports.json")
  python3 "$TOOLS" onboard "$admin" "$dir/var/admin.token" bench "$PKI/ca.crt" "$PKI/ca.key" "$bin" "$dir" >/dev/null
  local line=$label
  for phase in cold warm; do
    line+=$("$BENCH" connect --broker-pid "$PID" --port "$port" --tokens "$PKI/tokens.txt" -n "$N" -c "$C" |
      python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"  $phase {d['broker_cpu_ms_per_connect']:.3f} ms/connect {d['connects_per_s']:7.0f}/s\", end='')")
  done
  echo "$line"
  kill "$PID" && wait "$PID" 2>/dev/null || true
  PID=
}

for ((r = 1; r <= ROUNDS; r++)); do
  storm "$A" "A $(basename "$(dirname "$(dirname "$A")")")"
  storm "$B" "B $(basename "$(dirname "$(dirname "$B")")")"
done
