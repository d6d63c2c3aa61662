#!/bin/bash
# usage: half.sh ROUNDS BIN_A BIN_B [cfgA cfgB] — QoS0 half-load fan-in/fan-out p99 on two brokers + mosquitto
O=/work/main/bench/out/20261124T223931Z
B=/work/main/build
TOOLS="python3 /work/main/bench/bench_tools.py"
J='import json,sys; d=json.loads(sys.stdin.read()); print(sys.argv[1], sys.argv[2], round(d["lat_p50_us"]), round(d["lat_p99_us"]), flush=True)'
pkill -x portcullis; pkill -x mosquitto; sleep 0.3
D=/tmp/s14/half; rm -rf $D; mkdir -p $D/a $D/b
MP=$($TOOLS free-port)
sed "s/^listener [0-9]* 127.0.0.1$/listener $MP 127.0.0.1/;/^listener/q" $O/mosquitto.conf | sed '/^cafile/,$d' > $D/m.conf
mosquitto -c $D/m.conf 2>$D/m.log & MPID=$!
$2 serve --config ${CFG_A:-$O/portcullis1/portcullis.json} --data-dir $D/a --log-level warn > $D/a.log 2>&1 & APID=$!
$3 serve --config ${CFG_B:-$O/portcullis1/portcullis.json} --data-dir $D/b --log-level warn > $D/b.log 2>&1 & BPID=$!
PA=$($TOOLS wait-ports $D/a/ports.json mqtt | cut -d= -f2); PB=$($TOOLS wait-ports $D/b/ports.json mqtt | cut -d= -f2)
for t in /proc/$BPID/task/*; do [[ $(cat $t/comm) == pc-worker* ]] && /tmp/s14/slice/setslice ${SLICE:-100000} $(basename $t); done
run() { # label pid port
  $B/bench/portcullis-bench pubsub --broker x --label fanin --broker-pid $2 --threads 1 --port $3 -P 16 -S 1 -T 16 --subscribe-all --qos 0 --payload 64 --duration 4 --drain 5 --rate 4276.4 | python3 -c "$J" $1 fanin
  $B/bench/portcullis-bench pubsub --broker x --label fanout --broker-pid $2 --threads 1 --port $3 -P 1 -S 16 -T 1 --qos 0 --payload 64 --duration 4 --drain 5 --rate 7440.2 | python3 -c "$J" $1 fanout
}
for r in $(seq $1); do run A $APID $PA; run B $BPID $PB; run M $MPID $MP; done
kill $MPID $APID $BPID; wait 2>/dev/null
