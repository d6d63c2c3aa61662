"""Smoke test of the load generator (bench/): `portcullis-bench pubsub` runs for ~2 s against a
daemon started here and prints one JSON line. It checks the tool works end to end (CONNECT,
SUBSCRIBE, QoS 1 windows, PUBACK accounting, the loss check), never timing (STYLE §c42).
Skipped when $PORTCULLIS_BENCH_BIN does not name an existing file."""

import json
import os
import subprocess

import pytest

BENCH = os.environ.get("PORTCULLIS_BENCH_BIN", "")

pytestmark = pytest.mark.skipif(not BENCH or not os.path.isfile(BENCH),
                                reason="PORTCULLIS_BENCH_BIN is not set to a built portcullis-bench")


def run_bench(*args, timeout=60.0) -> dict:
    proc = subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1, f"expected one JSON line, got stdout={proc.stdout!r} stderr={proc.stderr[-2000:]!r}"
    result = json.loads(lines[0])
    assert proc.returncode == 0, f"exit {proc.returncode}: {result} {proc.stderr[-2000:]}"
    return result


def test_pubsub_qos1_delivers_without_loss(broker_factory):
    broker = broker_factory({"limits": {"rate": {"enabled": False}}})
    r = run_bench("pubsub", "--port", str(broker.port()), "--broker-pid", str(broker.pid),
                  "-P", "4", "-S", "4", "-T", "4", "--qos", "1", "--payload", "64",
                  "--duration", "2", "--rate", "500", "--label", "smoke", "--broker", "portcullis")
    assert r["mode"] == "pubsub" and r["ok"] is True
    assert r["sent"] > 0 and r["acked"] > 0
    assert r["delivered"] > 0
    assert r["lost"] == 0, r
    assert r["lat_count"] == r["delivered"]
    assert r["broker_cpu_s"] >= 0


def test_pubsub_qos0_fan_in(broker_factory):
    broker = broker_factory({"limits": {"rate": {"enabled": False}}})
    r = run_bench("pubsub", "--port", str(broker.port()), "-P", "4", "-S", "1", "-T", "4", "--subscribe-all",
                  "--qos", "0", "--duration", "1", "--rate", "200")
    assert r["ok"] is True and r["lost"] is None
    assert 0 < r["delivered"] <= r["expected_deliveries"]
