"""Operating the daemon (SPEC §2, §3): graceful stop, ports.json, check-config and bad
configuration (one line naming the key, exit code 2)."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from broker_harness import Broker, binary, run_cli, wait_until
from mqtt_helpers import RawClient, connected_client, publish_packet, raw_connected

REPO = Path(__file__).resolve().parents[2]


def test_sigterm_with_connected_clients_exits_zero_and_closes_them(broker_factory):
    broker = broker_factory()
    port = broker.port()
    paho = [connected_client(port, f"stop-paho-{i}") for i in range(3)]
    raw = [raw_connected(port, f"stop-raw-{i}") for i in range(3)]
    persistent = connected_client(port, "stop-persistent", clean_session=False)
    assert persistent.subscribe("stop/t") == [1]
    try:
        t0 = time.monotonic()
        rc = broker.terminate(timeout=10)
        elapsed = time.monotonic() - t0
        assert rc == 0, broker.log_text()[-2000:]
        assert elapsed < 5, f"graceful stop took {elapsed:.1f} s"
        for c in raw:
            assert c.wait_closed(2), "a raw client did not see the connection close"
        for c in paho + [persistent]:
            assert c.wait_disconnected(5), "a paho client did not see the connection close"
        # The listener is gone too.
        with pytest.raises(OSError):
            RawClient(port, timeout=1).connect("after-stop-client")
    finally:
        for c in paho + [persistent]:
            c.close()
        for c in raw:
            c.close()


def test_sigint_exits_zero(broker_factory):
    broker = broker_factory()
    c = raw_connected(broker.port(), "sigint-client-001")
    broker.proc.send_signal(signal.SIGINT)
    assert broker.proc.wait(10) == 0
    broker.returncode = 0
    assert c.wait_closed(2)
    c.close()


def test_ports_json_names_every_listener(broker_factory):
    # A listener name is any JSON string: quotes, backslashes and control characters are
    # escaped in ports.json, which stays parseable.
    second = 'second "one"\\\t'
    broker = broker_factory({"listeners": [
        {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
        {"name": second, "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
    ]})
    ports = json.loads((broker.data_dir / "ports.json").read_text())
    assert set(ports) >= {"mqtt", second}
    assert ports["mqtt"] != ports[second] and all(isinstance(p, int) and p > 0 for p in ports.values())
    # Both listeners serve, and share one broker: a message crosses from one to the other.
    sub = connected_client(ports[second], "port-second-sub")
    pub = connected_client(ports["mqtt"], "port-first-pub")
    try:
        assert sub.subscribe("ports/t") == [1]
        pub.publish("ports/t", b"across", qos=1)
        assert sub.expect(1)[0].payload == b"across"
    finally:
        sub.close()
        pub.close()
    assert re.search(rf"\b{ports['mqtt']}\b", broker.log_text()), "chosen port not logged"


def test_listeners_bound_by_host_name_serve(broker_factory):
    """A `bind` host may be a name: it is looked up once the config is valid and the
    listener binds the address it names (here: localhost, a loopback address)."""
    broker = broker_factory({"listeners": [
        {"name": "mqtt", "bind": "localhost:0", "protocol": "mqtt", "auth": ["anonymous"]},
        {"name": "admin", "bind": "localhost:0", "protocol": "http"},
    ]})
    ports = json.loads((broker.data_dir / "ports.json").read_text())
    m = broker.wait_log(r"listening name=mqtt protocol=mqtt address=(\S+):(\d+)")
    assert m.group(1) in ("127.0.0.1", "[::1]") and int(m.group(2)) == ports["mqtt"], m.group(0)
    a = broker.wait_log(r"listening name=admin protocol=http address=(\S+):(\d+)")
    assert a.group(1) in ("127.0.0.1", "[::1]") and int(a.group(2)) == ports["admin"], a.group(0)
    with urllib.request.urlopen(f"http://localhost:{ports['admin']}/healthz", timeout=5) as r:
        assert r.status == 200
    if m.group(1) == "127.0.0.1":
        c = raw_connected(ports["mqtt"], "bound-by-name")
        c.close()
    else:
        socket.create_connection(("::1", ports["mqtt"]), timeout=5).close()


# ---- check-config ----------------------------------------------------------------------
def write(tmp_path, text, name="bad.json"):
    p = tmp_path / name
    p.write_text(text if isinstance(text, str) else json.dumps(text))
    return str(p)


BAD = {
    "unknown-key": ({"limits": {"bogus": 1}}, "limits.bogus"),
    "wrong-type": ({"limits": {"max_inflight": "x"}}, "limits.max_inflight"),
    "bad-enum": ({"limits": {"rate": {"action": "explode"}}}, "limits.rate.action"),
    "bad-features": ({"mqtt": {"unsupported_features": "maybe"}}, "mqtt.unsupported_features"),
    "unknown-top-level": ({"bogus_section": {}}, "bogus_section"),
    "bad-auth-method": ({"listeners": [{"name": "m", "bind": "127.0.0.1:0", "protocol": "mqtt",
                                        "auth": ["telepathy"]}]}, "listeners[0].auth"),
    # Nothing after the document is ignored: a second object, stray text, an unclosed comment.
    "second-document": ('{"limits": {"max_inflight": 5}}\n{"limits": {"max_inflight": 9}}\n', "(syntax)"),
    "trailing-text": ('{"limits": {"max_inflight": 5}} this is junk\n', "(syntax)"),
    "unclosed-comment": ('{"limits": {"max_inflight": 5}} /* \n', "(syntax)"),
    # A key given twice: the reader would see only one of them.
    "duplicate-key": ('{"limits": {"max_inflight": 5}, "limits": {"max_connections": 7}}', "limits"),
    "duplicate-nested-key": ('{"limits": {"max_inflight": 5, "max_inflight": 6}}', "limits.max_inflight"),
    # A string that a C string would cut short, in a value or in a key.
    "nul-in-value": ('{"data_dir": "var\\u0000/../elsewhere"}', "data_dir"),
    "nul-in-key": ('{"limits": {"max_inflight\\u0000x": 5}}', "limits.max_inflight"),
    # A broker listening on nothing.
    "no-listeners": ({"listeners": []}, "listeners"),
    # Two listeners on one port: serve could not bind the second, so check-config refuses it.
    "same-port": ({"listeners": [{"name": "a", "bind": "127.0.0.1:18830", "protocol": "mqtt", "auth": ["anonymous"]},
                                 {"name": "b", "bind": "0.0.0.0:18830", "protocol": "http"}]}, "listeners[1].bind"),
    # An address serve could not bind is refused by check-config too.
    "unresolvable-host": ('{"listeners": [{"name": "m", "bind": "999.1.1.1:0", "protocol": "mqtt",'
                          ' "auth": ["anonymous"]}]}', "listeners[0].bind"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_check_config_rejects_bad_key_naming_it(tmp_path, case):
    cfg, key = BAD[case]  # a dict, or the file's text
    r = run_cli("check-config", "--config", write(tmp_path, cfg))
    assert r.returncode == 2, f"exit {r.returncode}, stdout {r.stdout[:200]!r}, stderr {r.stderr!r}"
    assert key in r.stderr, f"stderr does not name {key}: {r.stderr!r}"
    assert len(r.stderr.strip().splitlines()) == 1, f"not a one-line error: {r.stderr!r}"


def test_check_config_rejects_missing_tls_certificate(tmp_path):
    cfg = {"listeners": [{"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"],
                          "tls": {"cert": str(tmp_path / "missing.crt"), "key": str(tmp_path / "missing.key"),
                                  "client_certs": "optional"}}]}
    r = run_cli("check-config", "--config", write(tmp_path, cfg))
    assert r.returncode == 2, f"exit {r.returncode}, stderr {r.stderr!r}"
    assert "listeners[0].tls.cert" in r.stderr, r.stderr


def _tls_config(cert, key):
    return {"listeners": [{"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"],
                           "tls": {"cert": str(cert), "key": str(key), "client_certs": "optional"}}]}


def test_an_expired_server_certificate_is_warned_about(tmp_path, broker_factory):
    """Loaded all the same (it may be being replaced), but every TLS client will refuse it: a
    warning naming the key, on check-config's stderr (its stdout stays the JSON config) and in
    the serve log."""
    import datetime as dt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=30))
            .not_valid_after(now - dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "old.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "old.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    os.chmod(tmp_path / "old.key", 0o600)
    cfg = _tls_config(tmp_path / "old.crt", tmp_path / "old.key")
    r = run_cli("check-config", "--config", write(tmp_path, cfg))
    assert r.returncode == 0, r.stderr
    assert re.search(r"listeners\[0\]\.tls\.cert .*old\.crt: the server certificate has expired", r.stderr), r.stderr
    json.loads(r.stdout)
    broker = broker_factory(cfg)
    broker.wait_log(r"listeners\[0\]\.tls\.cert .*old\.crt: the server certificate has expired")


def test_what_serve_writes_is_its_users_alone(broker_factory):
    """The store holds queued payloads, bindings and CAs: owner-only files whatever the umask
    serve was started with (the shipped unit sets UMask=0077; a shell usually 022). ports.json
    is the exception on purpose: ports are no secret, and monitoring may run as another user."""
    old = os.umask(0o022)
    try:
        broker = broker_factory()
    finally:
        os.umask(old)
    for name in ("portcullis.db", "portcullis.db-wal", "portcullis.lock", "admin.token"):
        if (broker.data_dir / name).exists() or name == "portcullis.db":
            mode = (broker.data_dir / name).stat().st_mode & 0o777
            assert mode & 0o077 == 0, f"{name} is mode {mode:04o}"
    assert (broker.data_dir / "ports.json").stat().st_mode & 0o777 == 0o644


def test_tls_private_key_problems_are_config_errors_naming_the_key(tmp_path):
    # The server key is read once, by the broker itself: an encrypted key is refused (a daemon
    # cannot answer a passphrase prompt), as is a key of another certificate.
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=srv", "-days", "2",
            "-keyout", str(tmp_path / "srv.key"), "-out", str(tmp_path / "srv.crt"))
    openssl("pkey", "-in", str(tmp_path / "srv.key"), "-aes256", "-passout", "pass:secret",
            "-out", str(tmp_path / "encrypted.key"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(tmp_path / "other.key"))

    ok = run_cli("check-config", "--config", write(tmp_path, _tls_config(tmp_path / "srv.crt", tmp_path / "srv.key")))
    assert ok.returncode == 0, ok.stderr
    for key, why in (("encrypted.key", "is encrypted"), ("other.key", "does not match")):
        r = run_cli("check-config", "--config",
                    write(tmp_path, _tls_config(tmp_path / "srv.crt", tmp_path / key), f"{key}.json"), timeout=10)
        assert r.returncode == 2, f"{key}: exit {r.returncode}, stderr {r.stderr!r}"
        assert "listeners[0].tls.key" in r.stderr and why in r.stderr, r.stderr
        assert "secret" not in r.stderr


def test_check_config_rejects_syntax_error(tmp_path):
    r = run_cli("check-config", "--config", write(tmp_path, '{"limits": {'))
    assert r.returncode == 2
    assert r.stderr.strip()


def test_text_from_the_network_cannot_start_a_log_line(broker_factory):
    # A client id is the client's choice: a newline in it must not forge a log line.
    broker = broker_factory()
    forged = "2026-01-01T00:00:00.000Z info [auth] FORGED"
    c = RawClient(broker.port())
    try:
        rc, _ = c.connect("evil\n" + forged + "\r\x1b[31m")
        assert rc == 0
    finally:
        c.close()
    text = wait_until(lambda: broker.log_text() if "FORGED" in broker.log_text() else None, 5,
                      what="the connect logged")
    assert not any(line.startswith(forged) for line in text.splitlines()), text[-2000:]
    assert "evil\\n" + forged + "\\r\\x1b[31m" in text, text[-2000:]
    # A refusal line stays key=value: a client id with spaces or quotes is quoted and escaped.
    c = RawClient(broker.port())
    try:
        rc, _ = c.connect('a "b" reason=x', will=("w/t", b"m", 0, False))
        assert rc == 0x05
    finally:
        c.close()
    line = wait_until(lambda: next((l for l in broker.log_text().splitlines() if "reason=mqtt.will" in l), None), 5,
                      what="the refusal logged")
    assert 'client_id="a \\"b\\" reason=x"' in line, line


def test_json_logs_are_one_object_per_line_with_the_refusal_in_fields(tmp_path):
    # --log-format json is for log shippers: every line one JSON object, and an event line's
    # key=value pairs lifted into fields, so an operator filters refusals on "reason".
    broker = Broker(tmp_path / "b", {"listeners": [
        {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
        {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}]}, extra_args=["--log-format", "json"])
    broker.start()
    try:
        c = RawClient(broker.port())
        try:
            rc, _ = c.connect('a "b" reason=x\nFORGED', will=("w/t", b"m", 0, False))
            assert rc == 0x05
        finally:
            c.close()
        req = urllib.request.Request(f"http://127.0.0.1:{broker.port('admin')}/api/v1/tenants",
                                     headers={"Authorization": "Bearer wrong-token"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5)
        assert refused.value.code == 401
        # A request path with a byte that is not UTF-8: the line stays valid JSON (U+FFFD).
        with socket.create_connection(("127.0.0.1", broker.port("admin")), timeout=5) as s:
            s.sendall(b"GET /api/v1/t\xffx HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer no\r\n"
                      b"Connection: close\r\n\r\n")
            assert s.recv(64).startswith(b"HTTP/1.1 401"), "the raw request was not refused"

        def events():
            text = broker.log_path.read_bytes().decode("utf-8")  # strict: a shipper's view
            out = [json.loads(line) for line in text.splitlines() if line.strip()]
            names = {o.get("event") for o in out}
            n = sum(1 for o in out if o.get("event") == "admin request refused")
            return out if "connect refused" in names and n == 2 else None

        objs = wait_until(events, 5, what="both refusals logged")
    finally:
        broker.stop_and_check()
    for o in objs:
        assert {"ts", "level", "logger", "msg"} <= o.keys(), o
    refusal = next(o for o in objs if o.get("event") == "connect refused")
    assert refusal["level"] == "warning" and refusal["logger"] == "auth", refusal
    assert refusal["reason"] == "mqtt.will" and refusal["listener"] == "mqtt", refusal
    assert refusal["client_id"] == 'a "b" reason=x\nFORGED', refusal
    assert refusal["remote"].startswith("127.0.0.1:") and refusal["detail"], refusal
    assert refusal["msg"].startswith("connect refused listener=mqtt "), refusal
    admin = [o for o in objs if o.get("event") == "admin request refused"]
    assert [(o["method"], o["path"], o["status"]) for o in admin] == \
        [("GET", "/api/v1/tenants", "401"), ("GET", "/api/v1/t\ufffdx", "401")], admin
    assert "wrong-token" not in broker.log_text()
    listening = [o for o in objs if o.get("event") == "listening"]
    assert {(o["name"], o["protocol"]) for o in listening} == {("mqtt", "mqtt"), ("admin", "http")}, listening
    assert any(o.get("event") == "ready" and o["data_dir"] == str(broker.data_dir) for o in objs), objs


def test_with_json_logs_a_start_up_failure_is_a_json_line_too(tmp_path):
    """After JSON lines have gone out, a failure to start (here: the port is taken) is one more
    JSON object naming the key; the plain one-line error on stderr and exit 2 stay."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = write(tmp_path, {"listeners": [{"name": "mqtt", "bind": f"127.0.0.1:{port}", "protocol": "mqtt",
                                              "auth": ["anonymous"]}]})
        r = subprocess.run([binary(), "serve", "--config", cfg, "--data-dir", str(tmp_path / "var"),
                            "--log-format", "json"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r
    objs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(objs) >= 2, r.stdout
    last = objs[-1]
    assert last["level"] == "critical" and last["event"] == "start-up failed", last
    assert last["key"] == "listeners[0].bind" and "in use" in last["detail"], last
    assert r.stderr.startswith("portcullis: config error: listeners[0].bind:"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_under_journald_each_line_carries_its_priority(tmp_path):
    # systemd sets JOURNAL_STREAM to the device and inode of the service's stdout; journald
    # then reads "<N>" at the start of a line as its priority (info 6, warning 4).
    log = tmp_path / "journal.txt"
    log.touch()
    st = log.stat()
    broker = Broker(tmp_path / "b")
    env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([binary(), "serve", "--config", str(broker.config_path), "--data-dir",
                                 str(broker.data_dir), "--log-level", "info"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        wait_until(lambda: (broker.data_dir / "ports.json").exists() or None, 10, what="ports.json")
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    lines = [l for l in log.read_text().splitlines() if l]
    assert lines and all(re.match(r"<[2-7]>\d{4}-\d\d-\d\dT", l) for l in lines), lines[:5]
    assert any(l.startswith("<6>") and "ready" in l for l in lines), lines


def test_log_level_warning_is_accepted_and_a_bad_flag_is_named(tmp_path):
    r = run_cli("check-config", "--config", write(tmp_path, {"log": {"level": "warning"}}))
    assert r.returncode == 0, r.stderr
    r = run_cli("serve", "--log-level", "loud", "--data-dir", str(tmp_path / "var"))
    assert r.returncode == 2 and r.stderr.startswith("portcullis: config error: --log-level:"), r.stderr


def test_install_lays_out_what_the_systemd_unit_runs(tmp_path):
    build = Path(os.environ["PORTCULLIS_BIN"]).resolve().parent.parent
    r = subprocess.run(["cmake", "--install", str(build), "--prefix", "/usr"], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "DESTDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    unit = (tmp_path / "usr/lib/systemd/system/portcullis.service").read_text()
    starts = [l.split("=", 1)[1].split() for l in unit.splitlines() if l.startswith(("ExecStart=", "ExecStartPre="))]
    assert starts and all(cmd[0] == "/usr/bin/portcullis" for cmd in starts), starts
    assert (tmp_path / "usr/bin/portcullis").stat().st_mode & 0o111
    assert (tmp_path / "usr/lib/sysusers.d/portcullis.conf").read_text().count("u portcullis") == 1
    # The unit's config is the shipped one, and it passes check-config as installed.
    config = starts[0][starts[0].index("--config") + 1]
    installed = tmp_path / config.lstrip("/")
    assert installed.read_text() == (REPO / "etc/portcullis.json").read_text()
    assert run_cli("check-config", "--config", str(installed)).returncode == 0
    assert "RestartPreventExitStatus=2" in unit and "User=portcullis" in unit


def test_make_run_starts_the_binary_the_build_made():
    # SPEC §2: `make run` builds, then starts the broker. It runs <build>/portcullis, which the
    # build links to broker/portcullis; a dry run shows the command it would run.
    binary = Path(os.environ["PORTCULLIS_BIN"]).resolve()
    build = binary.parent.parent
    r = subprocess.run(["make", "-n", "-s", "-C", str(REPO), "run", f"BUILD={build}"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    command = r.stdout.strip().splitlines()[-1].split()
    assert command[1:] == ["serve", "--config", "etc/portcullis.json"], command
    assert Path(command[0]).resolve() == binary, f"make run would start {command[0]}"


def test_a_directory_given_as_config_is_named_as_such(tmp_path):
    r = run_cli("check-config", "--config", str(tmp_path))
    assert r.returncode == 2 and "--config" in r.stderr and "directory" in r.stderr, r.stderr


def test_an_unreadable_token_file_fails_check_config_and_serve_before_any_write(tmp_path):
    cfg = write(tmp_path, {"admin": {"token_file": str(tmp_path / "missing.token")}})
    env = {k: v for k, v in os.environ.items() if k != "PORTCULLIS_ADMIN_TOKEN"}
    r = run_cli("check-config", "--config", cfg, env=env)
    assert r.returncode == 2 and "admin.token_file" in r.stderr, r.stderr
    (tmp_path / "empty.token").write_text("\n")
    empty = write(tmp_path, {"admin": {"token_file": str(tmp_path / "empty.token")}}, "empty.json")
    r = run_cli("check-config", "--config", empty, env=env)
    assert r.returncode == 2 and "admin.token_file" in r.stderr, r.stderr
    r = run_cli("serve", "--config", cfg, "--data-dir", str(tmp_path / "var"), env=env, timeout=10)
    assert r.returncode == 2 and "admin.token_file" in r.stderr, r.stderr
    assert not (tmp_path / "var" / "admin.token").exists(), "a failed start generated a bootstrap token"
    # With the environment variable the file is not used, so it need not exist.
    r = run_cli("check-config", "--config", cfg, env={**env, "PORTCULLIS_ADMIN_TOKEN": "from-env"})
    assert r.returncode == 0, r.stderr


def test_ports_json_exists_only_while_the_broker_runs(tmp_path, broker_factory):
    broker = broker_factory()
    ports_file = broker.data_dir / "ports.json"
    assert ports_file.exists()
    assert broker.terminate() == 0
    assert not ports_file.exists(), "ports.json names closed ports after a graceful stop"
    # A file left by a run that was killed goes at the next start, even one that fails.
    ports_file.write_text('{"mqtt": 1, "admin": 2}\n')
    busy = socket.create_server(("127.0.0.1", 0))
    try:
        cfg = write(tmp_path, {"listeners": [{"name": "mqtt", "bind": f"127.0.0.1:{busy.getsockname()[1]}",
                                              "protocol": "mqtt", "auth": ["anonymous"]}]}, "busy.json")
        r = run_cli("serve", "--config", cfg, "--data-dir", str(broker.data_dir), timeout=10)
    finally:
        busy.close()
    assert r.returncode == 2, r.stderr
    assert not ports_file.exists(), "a stale ports.json survived a start"


def test_serve_with_bad_config_exits_two_without_listening(tmp_path):
    r = run_cli("serve", "--config", write(tmp_path, {"limits": {"bogus": 1}}),
                "--data-dir", str(tmp_path / "var"), timeout=10)
    assert r.returncode == 2
    assert "limits.bogus" in (r.stderr + r.stdout)
    assert not (tmp_path / "var" / "ports.json").exists()


def test_check_config_accepts_comments_and_prints_effective_config(tmp_path):
    text = '// a comment\n{\n  /* block */ "limits": {"max_inflight": 7}\n}\n'
    r = run_cli("check-config", "--config", write(tmp_path, text, "ok.json"))
    assert r.returncode == 0, r.stderr
    effective = json.loads(r.stdout)
    assert effective["limits"]["max_inflight"] == 7
    assert effective["limits"]["max_packet_bytes"] == 24576  # defaults filled in
    assert effective["mqtt"]["unsupported_features"] == "reject"


def test_check_config_warns_when_no_device_could_ever_be_provisioned(tmp_path):
    r = run_cli("check-config", "--config",
                write(tmp_path, {"auth": {"provisioning": {"agents_per_tenant": 0}}}, "zero.json"))
    assert r.returncode == 0, r.stderr
    assert "warning: auth.provisioning.agents_per_tenant is 0" in r.stderr, r.stderr
    assert json.loads(r.stdout)["auth"]["provisioning"]["agents_per_tenant"] == 0
    r = run_cli("check-config", "--config", write(tmp_path, {"auth": {"provisioning": {"agents_per_tenant": 5}}}))
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_test_harness_config_passes_check_config(tmp_path):
    b = Broker(tmp_path / "b")
    r = run_cli("check-config", "--config", str(b.config_path))
    assert r.returncode == 0, r.stderr


def test_shipped_config_passes_check_config():
    shipped = REPO / "etc" / "portcullis.json"
    if not shipped.exists():
        pytest.skip(f"{shipped} not present yet")
    r = run_cli("check-config", "--config", str(shipped))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kind", ["intermediate", "device", "server", "verification"])
def test_pki_refuses_an_issuer_that_cannot_sign(tmp_path, kind):
    """`pki` writes nothing when --ca-key is not the key of --ca-cert, or when --ca-cert is not
    a CA: such a certificate would be refused by every verifier, CA onboarding included."""
    def pki(*args):
        return run_cli("pki", *args)
    for name in ("a", "b"):
        assert pki("ca", "--cn", f"CA {name}", "--out-cert", str(tmp_path / f"{name}.crt"),
                   "--out-key", str(tmp_path / f"{name}.key")).returncode == 0
    assert pki("device", "--cn", "leaf-device", "--ca-cert", str(tmp_path / "a.crt"), "--ca-key", str(tmp_path / "a.key"),
               "--out-cert", str(tmp_path / "leaf.crt"), "--out-key", str(tmp_path / "leaf.key")).returncode == 0
    name_arg = ["--code", "ABCDEF123456"] if kind == "verification" else ["--cn", "made-by-test"]
    key_arg = [] if kind == "verification" else ["--out-key", str(tmp_path / "out.key")]
    for issuer, why in ((("a.crt", "b.key"), "does not belong"), (("leaf.crt", "leaf.key"), "not a CA")):
        out = tmp_path / f"out-{issuer[1]}.crt"
        r = pki(kind, *name_arg, "--ca-cert", str(tmp_path / issuer[0]), "--ca-key", str(tmp_path / issuer[1]),
                "--out-cert", str(out), *key_arg)
        assert r.returncode != 0 and why in r.stderr, (issuer, r.returncode, r.stderr)
        assert not out.exists()
    # The right pair still works.
    r = pki(kind, *name_arg, "--ca-cert", str(tmp_path / "a.crt"), "--ca-key", str(tmp_path / "a.key"),
            "--out-cert", str(tmp_path / "good.crt"), *key_arg)
    assert r.returncode == 0, r.stderr


def test_dev_tools_refuse_nonsense_validity_periods(tmp_path):
    """A CA valid for 0 or -5 days (notAfter before notBefore) or a token that expires before it
    is issued is a typo, not a test case: exit 2 naming the option, nothing written."""
    for days in ("0", "-5"):
        out = tmp_path / f"ca{days}.crt"
        r = run_cli("pki", "ca", "--cn", "Typo CA", "--days", days, "--out-cert", str(out),
                    "--out-key", str(tmp_path / f"ca{days}.key"))
        assert r.returncode == 2 and "--days" in r.stderr, (days, r.returncode, r.stderr)
        assert not out.exists()
    assert run_cli("pki", "ca", "--cn", "Good CA", "--out-cert", str(tmp_path / "ca.crt"),
                   "--out-key", str(tmp_path / "ca.key")).returncode == 0
    assert run_cli("pki", "device", "--cn", "typo-device-000001", "--ca-cert", str(tmp_path / "ca.crt"),
                   "--ca-key", str(tmp_path / "ca.key"), "--out-cert", str(tmp_path / "d.crt"),
                   "--out-key", str(tmp_path / "d.key")).returncode == 0
    mint = ("token", "mint", "--cert", str(tmp_path / "d.crt"), "--key", str(tmp_path / "d.key"),
            "--client-id", "typo-device-000001")
    for lifetime in ("0", "-10"):
        r = run_cli(*mint, "--lifetime", lifetime)
        assert r.returncode == 2 and "--lifetime" in r.stderr and r.stdout == "", (lifetime, r.returncode, r.stderr)
    # Longer than the broker accepts is still mintable: that is how its refusal is tested.
    assert run_cli(*mint, "--lifetime", "7200").returncode == 0
    r = run_cli(*mint, "--lifetime", "0")
    assert "not in range 1 to 315360000" in r.stderr, r.stderr
    # An encrypted issuer key is refused with the reason, never with a passphrase prompt.
    subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "ca.key"), "-aes128", "-passout", "pass:secret",
                    "-out", str(tmp_path / "ca-encrypted.key")], check=True, capture_output=True)
    r = run_cli("pki", "device", "--cn", "typo-device-000002", "--ca-cert", str(tmp_path / "ca.crt"),
                "--ca-key", str(tmp_path / "ca-encrypted.key"), "--out-cert", str(tmp_path / "d2.crt"),
                "--out-key", str(tmp_path / "d2.key"))
    assert r.returncode != 0 and "encrypted" in r.stderr, (r.returncode, r.stderr)


def test_a_short_bootstrap_token_is_warned_about_without_being_logged(broker_factory, monkeypatch):
    monkeypatch.setenv("PORTCULLIS_ADMIN_TOKEN", "letmein")
    broker = broker_factory({"listeners": [
        {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
        {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}]})
    broker.wait_log(r"admin bootstrap token from PORTCULLIS_ADMIN_TOKEN is 7 characters long; use at least 16")
    assert "letmein" not in broker.log_text()


def test_a_second_serve_on_the_same_data_dir_is_refused(broker_factory):
    """Two brokers on one data dir would share one store and overwrite each other's ports.json:
    the second exits 2 naming data_dir (and the pid holding it), and the first carries on."""
    broker = broker_factory()
    before = (broker.data_dir / "ports.json").read_text()
    r = run_cli("serve", "--config", str(broker.config_path), "--data-dir", str(broker.data_dir), timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "data_dir" in r.stderr and "in use" in r.stderr and str(broker.pid) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (broker.data_dir / "ports.json").read_text() == before
    c = raw_connected(broker.port(), "still-the-first")
    c.close()
    # Once the first has stopped (however it stopped), the data dir is free again.
    broker.kill()
    broker.start()
    raw_connected(broker.port(), "after-the-first").close()


def test_a_bootstrap_token_file_readable_by_others_is_flagged(tmp_path, broker_factory, monkeypatch):
    """The generated <data_dir>/admin.token is put back to 0600 with a warning; a token_file
    the operator named gets a warning and is left as it is."""
    monkeypatch.delenv("PORTCULLIS_ADMIN_TOKEN", raising=False)
    listeners = {"listeners": [
        {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
        {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"},
    ]}
    broker = broker_factory(listeners)
    token = broker.data_dir / "admin.token"
    assert token.stat().st_mode & 0o777 == 0o600
    broker.terminate()
    token.chmod(0o644)
    broker.start()
    assert token.stat().st_mode & 0o777 == 0o600
    broker.wait_log(r"admin token file .*admin\.token was readable by other users \(mode 0644\); mode set to 0600")
    broker.terminate()

    named = tmp_path / "operator.token"
    named.write_text("operator-secret-token-value\n")
    named.chmod(0o640)
    other = broker_factory({**listeners, "admin": {"token_file": str(named)}})
    other.wait_log(r"admin token file .*operator\.token is readable by other users \(mode 0640\); it should be 0600")
    assert named.stat().st_mode & 0o777 == 0o640
    assert "operator-secret-token-value" not in other.log_text()


def _worker_loads(broker) -> dict[str, int]:
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^portcullis_worker_connections\{worker="(\d+)"\} (\d+)$', broker.metrics(), re.M)}


def test_plain_connections_are_accepted_by_every_worker_and_stay_balanced(broker_factory):
    """Plain TCP connections are accepted on the worker threads themselves; whichever worker
    takes one, the long-lived ones end up spread over the workers (not all on the one that
    happened to be awake), and they all work. A second broker cannot bind the same port."""
    broker = broker_factory({"workers": 2, "listeners": [
        {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
        {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}]})
    port = broker.port()
    clients = [raw_connected(port, f"spread-{i:02d}") for i in range(32)]
    try:
        wait_until(lambda: sum(_worker_loads(broker).values()) == 32, 5, what="32 connections on the workers")
        loads = _worker_loads(broker)
        assert set(loads) == {"0", "1"}, loads
        assert min(loads.values()) >= 12, f"connections not spread over the workers: {loads}"
        # Every one of them is served: a round trip through each.
        sub = connected_client(port, "spread-sub")
        assert sub.subscribe("spread/#") == [1]
        for i, c in enumerate(clients):
            c.send(publish_packet(f"spread/{i}", b"x", qos=0))
        got = sub.expect(32)
        assert sorted(m.topic for m in got) == sorted(f"spread/{i}" for i in range(32))
        sub.close()
        # The listening socket is the broker's alone (no SO_REUSEPORT): a second broker on the
        # same port is refused and the first keeps all its clients.
        cfg = {"listeners": [{"name": "mqtt", "bind": f"127.0.0.1:{port}", "protocol": "mqtt",
                              "auth": ["anonymous"]}]}
        other = broker.data_dir.parent / "other.json"
        other.write_text(json.dumps(cfg))
        r = run_cli("serve", "--config", str(other), "--data-dir", str(broker.data_dir.parent / "other-var"),
                    timeout=10)
        assert r.returncode == 2 and "listeners[0].bind" in r.stderr, (r.returncode, r.stderr)
        assert sum(_worker_loads(broker).values()) == 32
    finally:
        for c in clients:
            c.close()
    wait_until(lambda: sum(_worker_loads(broker).values()) == 0, 5, what="connections gone from the workers")
