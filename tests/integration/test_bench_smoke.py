"""Smoke test of the load generator (bench/): `portcullis-bench pubsub` runs for ~2 s against a
daemon started here and prints one JSON line. It checks the tool works end to end (CONNECT,
SUBSCRIBE, QoS 1 windows, PUBACK accounting, the loss check), never timing (STYLE §c42).
Skipped when $PORTCULLIS_BENCH_BIN does not name an existing file."""

import json
import os
import signal
import subprocess

import pytest

from broker_harness import wait_until

BENCH = os.environ.get("PORTCULLIS_BENCH_BIN", "")
TLS_BENCH = os.environ.get("PORTCULLIS_TLS_BENCH_BIN", "")

pytestmark = pytest.mark.skipif(not BENCH or not os.path.isfile(BENCH),
                                reason="PORTCULLIS_BENCH_BIN is not set to a built portcullis-bench")


def run_bench(*args, timeout=60.0, expect_exit=0) -> dict:
    proc = subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1, f"expected one JSON line, got stdout={proc.stdout!r} stderr={proc.stderr[-2000:]!r}"
    result = json.loads(lines[0])
    assert proc.returncode == expect_exit, f"exit {proc.returncode}: {result} {proc.stderr[-2000:]}"
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


def test_connect_storm_counts_each_connack_and_each_timeout(broker_factory):
    """`connect` over plain TCP: every CONNACK is counted by its code, a refused device is not an
    accepted connect, and a broker that stops answering turns into timeouts, not a hang."""
    broker = broker_factory({"auth": {"client_id": {"min_length": 0, "max_length": 24}}})
    port = str(broker.port())
    ok = run_bench("connect", "--port", port, "--broker-pid", str(broker.pid), "-n", "300", "-c", "20",
                   "--client-prefix", "smoke-")
    assert ok["accepted"] == 300 and ok["connack_codes"] == {"0": 300} and ok["timeouts"] == 0
    assert ok["lat_count"] == 300 and ok["connects_per_s"] > 0
    assert ok["broker_cpu_ms_per_connect"] >= 0

    # Client ids longer than the broker's max_length: CONNACK 2 (identifier rejected) for all.
    refused = run_bench("connect", "--port", port, "-n", "30", "-c", "5",
                        "--client-prefix", "a-client-id-prefix-far-too-long-", expect_exit=1)
    assert refused["accepted"] == 0 and refused["connack_codes"] == {"2": 30}

    os.kill(broker.pid, signal.SIGSTOP)
    try:
        stalled = run_bench("connect", "--port", port, "-n", "6", "-c", "3", "--timeout", "0.5",
                            expect_exit=1, timeout=30.0)
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    assert stalled["timeouts"] == 6 and stalled["connack_codes"] == {"error": 6}
    assert stalled["first_error"] == "timeout"
    after = run_bench("connect", "--port", port, "-n", "1", "-c", "1", "--client-prefix", "after-")
    assert after["accepted"] == 1


@pytest.mark.skipif(not TLS_BENCH or not os.path.isfile(TLS_BENCH),
                    reason="PORTCULLIS_TLS_BENCH_BIN is not set to a built portcullis-tls-bench")
def test_tls_handshake_bench_counts_the_server_side_in_signatures(tmp_path):
    """`portcullis-tls-bench`: full TLS 1.3 handshakes with a client certificate in the broker's
    own TLS context; the server side costs more than its one RSA signature. A key that does not
    match the certificate is refused the way the broker refuses it, naming the config key."""
    from cryptography.hazmat.primitives import serialization
    from pki_helpers import CA, pem

    def write(name, key, cert):
        (tmp_path / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp_path / f"{name}.crt").write_text(pem(cert))

    ca = CA()
    write("server", *ca.device("localhost"))
    write("device", *ca.device("bench-device-1"))
    args = ["--cert", str(tmp_path / "server.crt"), "--client-cert", str(tmp_path / "device.crt"),
            "--client-key", str(tmp_path / "device.key"), "-n", "5", "--rounds", "1"]
    proc = subprocess.run([TLS_BENCH, "--key", str(tmp_path / "server.key"), *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["protocol"] == "TLSv1.3" and r["handshakes_per_round"] == 5 and len(r["rounds"]) == 1
    assert r["signatures"] > 1.0, r  # the server's CertificateVerify alone is one signature

    bad = subprocess.run([TLS_BENCH, "--key", str(tmp_path / "device.key"), *args], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "listeners[0].tls.key" in bad.stderr, bad.stderr


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_pubsub_persistent_subscribers_are_durable_and_discarded(broker_factory):
    """--persistent (issue #6 benchmark): subscribers use CleanSession=0, so every message goes
    through the durable-session group commit; nothing acked is lost, and the tool discards the
    sessions afterwards, so repeated runs leave none behind."""
    broker = broker_factory({
        "listeners": [
            {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
            {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"},
        ],
        "limits": {"rate": {"enabled": False}},
    })
    r = run_bench("pubsub", "--port", str(broker.port()), "-P", "2", "-S", "6", "-T", "2", "--qos", "1",
                  "--duration", "1.5", "--rate", "300", "--persistent")
    assert r["ok"] is True and r["persistent"] is True
    assert r["acked"] > 0 and r["lost"] == 0, r
    metrics = broker.metrics()
    # Every delivery's queue entry was either committed or cancelled by the subscriber's PUBACK.
    assert _metric(metrics, "portcullis_session_commits_total") >= 1
    assert (_metric(metrics, "portcullis_session_ops_committed_total")
            + _metric(metrics, "portcullis_session_entries_cancelled_total")) >= r["acked"]
    # Discarded with CleanSession=1 after the run (the last DISCONNECTs may still be in flight).
    wait_until(lambda: _metric(broker.metrics(), "portcullis_sessions") == 0, 5, what="sessions discarded")


def test_idle_holds_mtls_connections_with_one_certificate_each(broker_factory, tmp_path):
    """`idle --cert-dir`: each held connection is TLS with its own client certificate and its
    CN as client id (the idle mTLS scenario of bench/run.sh)."""
    from authkit import Pki
    pki = Pki(tmp_path / "pki")
    ca = pki.ca("bench-ca", "Bench Smoke CA")
    crt, key = pki.server("server", "portcullis-bench-smoke", ca)
    os.chmod(key, 0o600)
    certs = tmp_path / "mtls"
    r = subprocess.run([BENCH, "mint", "--ca-cert", ca[0], "--ca-key", ca[1], "--count", "20",
                        "--prefix", "smoke-mtls-", "--cert-dir", str(certs), "--client-auth"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    # "optional": the certificates are asked for and sent; "required" would also want their CA
    # registered for a tenant, which this anonymous listener has none of.
    broker = broker_factory({"listeners": [
        {"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"],
         "tls": {"cert": crt, "key": key, "client_certs": "optional"}}]})
    held = run_bench("idle", "--port", str(broker.port("mqtts")), "--broker-pid", str(broker.pid),
                     "--cert-dir", str(certs), "-n", "20", "-c", "4", "--hold", "0.5")
    assert held["tls"] is True and held["held"] == 20 and held["dropped"] == 0, held
    assert "bytes_per_connection" in held
    # More connections than certificates: refused before any connect, with exit 2.
    r = subprocess.run([BENCH, "idle", "--port", str(broker.port("mqtts")), "--cert-dir", str(certs), "-n", "21"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "certificate/key pairs" in r.stderr
