"""The TLS transport end to end (broker/src/tls_transport.cpp): OpenSSL reads and writes the
socket itself, so these check what a TLS client would notice if that went wrong: large
messages through a subscriber whose socket is full (OpenSSL holds half-sent records and must be
offered the same bytes again), the same with records of 512 bytes (SSL_write takes part of what
it is offered), the close_notify a closing broker sends, renegotiation and KeyUpdate, and the
memory each idle TLS connection holds."""

import hashlib
import os
import select
import socket
import ssl
import subprocess
import threading
import time

import pytest

from authkit import Pki
from mqtt_helpers import PUBACK, PUBLISH, Closed, RawClient, connect_packet, publish_packet

pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")


class TlsClient(RawClient):
    """RawClient over TLS that tells a clean close (the broker's close_notify, then EOF) from
    a truncated one (EOF without close_notify)."""

    def __init__(self, port: int, ctx: ssl.SSLContext, rcvbuf: int | None = None, timeout: float = 5.0):
        plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so that the TCP window stays small
            plain.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        plain.settimeout(timeout)
        plain.connect(("127.0.0.1", port))
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(plain, server_hostname="localhost", suppress_ragged_eofs=False)
        self._buf = bytearray()
        self.is_closed = False
        self.truncated = False

    def _fill(self, deadline: float) -> None:
        try:
            super()._fill(deadline)
        except ssl.SSLError as e:
            # EOF without close_notify: SSLEOFError, or with OpenSSL 3 this reason.
            if not isinstance(e, ssl.SSLEOFError) and e.reason != "UNEXPECTED_EOF_WHILE_READING":
                raise
            self.is_closed = self.truncated = True
            raise Closed() from None


@pytest.fixture(scope="module")
def tls_broker(module_broker_factory, tmp_path_factory):
    root = tmp_path_factory.mktemp("tls-transport")
    pki = Pki(root / "pki")
    server_ca = pki.ca("server-ca", "Portcullis Test Server CA")
    crt, key = pki.server("server", "portcullis-tls-transport", server_ca)
    os.chmod(key, 0o600)
    b = module_broker_factory({
        "listeners": [
            {"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"],
             "tls": {"cert": crt, "key": key, "client_certs": "none"}},
        ],
    })
    ctx = ssl.create_default_context(cafile=server_ca[0])
    ctx.check_hostname = False
    # Python sets this by default; without it an EOF that no close_notify preceded is an error.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return b, ctx


def tls_connected(tls_broker, client_id: str, **kw) -> TlsClient:
    b, ctx = tls_broker
    c = TlsClient(b.port("mqtts"), ctx, **kw)
    rc, _ = c.connect(client_id)
    assert rc == 0, f"CONNACK {rc} for {client_id}"
    return c


def payload_for(i: int, size: int) -> bytes:
    # Distinct, incompressible-looking content per message: a lost, repeated or shifted
    # record boundary shows up as a payload that does not match.
    seed = hashlib.sha256(b"%d" % i).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_large_messages_reach_a_subscriber_with_a_full_socket_intact(tls_broker):
    count, size = 60, 20 * 1024  # 1.2 MB: far beyond a 4 KiB receive window
    sub = tls_connected(tls_broker, "tls-big-subscriber", rcvbuf=4096)
    pub = tls_connected(tls_broker, "tls-big-publisher")
    try:
        assert sub.subscribe([("tls/big", 1)]) == [1]
        for i in range(count):
            pub.send(publish_packet("tls/big", payload_for(i, size), qos=1, packet_id=i + 1))
        # The subscriber has not read yet: the broker's writes to it stop with records half
        # sent. Every PUBLISH is acknowledged all the same (the queue holds them).
        acked = {pub.expect(PUBACK, timeout=10).packet_id for _ in range(count)}
        assert acked == set(range(1, count + 1))
        time.sleep(0.3)
        got = []
        while len(got) < count:
            p = sub.read_packet(timeout=10)
            assert p.type == PUBLISH, f"packet type {p.type}"
            topic_len = int.from_bytes(p.body[:2], "big")
            assert p.body[2:2 + topic_len] == b"tls/big"
            packet_id = int.from_bytes(p.body[2 + topic_len:4 + topic_len], "big")
            got.append(p.body[4 + topic_len:])
            sub.send(bytes([0x40, 0x02]) + packet_id.to_bytes(2, "big"))  # PUBACK
        for i, body in enumerate(got):
            assert body == payload_for(i, size), f"message {i} arrived altered ({len(body)} bytes)"
    finally:
        sub.close()
        pub.close()


class RecordProxy:
    """A TCP relay between a client and the broker that reads the broker's side through a
    4 KiB receive window, can stop reading it (so the broker's socket fills), and notes the
    largest TLS record the broker sent."""

    def __init__(self, broker_port: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.broker_port = broker_port
        self.reading = threading.Event()
        self.reading.set()
        self.records = 0
        self.largest_record = 0
        self.error: BaseException | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            client, _ = self.listener.accept()
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
            upstream.connect(("127.0.0.1", self.broker_port))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            pending = bytearray()
            while True:
                self.reading.wait()
                chunk = upstream.recv(4096)
                if not chunk:
                    client.shutdown(socket.SHUT_WR)
                    return
                pending += chunk
                while len(pending) >= 5:  # TLS record header: type, version, length
                    length = int.from_bytes(pending[3:5], "big")
                    if len(pending) < 5 + length:
                        break
                    self.records += 1
                    self.largest_record = max(self.largest_record, length)
                    del pending[:5 + length]
                client.sendall(chunk)
        except OSError as e:
            self.error = e

    @staticmethod
    def _pump(client, upstream):
        try:
            while chunk := client.recv(65536):
                upstream.sendall(chunk)
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class SClient(RawClient):
    """An MQTT client over `openssl s_client`, for TLS features Python's ssl cannot ask for."""

    def __init__(self, port: int, *options: str):
        self.proc = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", *options],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._buf = bytearray()
        self.is_closed = False

    def send(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.proc.stdout], [], [], remaining)[0]:
            raise TimeoutError("no data from broker")
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            self.is_closed = True
            raise Closed()
        self._buf += chunk

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def test_small_negotiated_records_through_a_full_socket_arrive_intact(tls_broker):
    # A client that negotiates max_fragment_length 512 (RFC 6066) makes each 16 KiB SSL_write
    # many records, so a full socket stops OpenSSL between records: SSL_write then takes part
    # of what it was offered and the transport must offer the rest again, in order.
    b, _ = tls_broker
    count, size = 40, 20 * 1024
    proxy = RecordProxy(b.port("mqtts"))
    sub = SClient(proxy.port, "-maxfraglen", "512")
    pub = tls_connected(tls_broker, "tls-fraglen-publisher")
    try:
        rc, _ = sub.connect("tls-fraglen-subscriber")
        assert rc == 0
        assert sub.subscribe([("tls/fraglen", 1)]) == [1]
        proxy.reading.clear()  # from here the broker's socket to the subscriber fills
        for i in range(count):
            pub.send(publish_packet("tls/fraglen", payload_for(i, size), qos=1, packet_id=i + 1))
        acked = {pub.expect(PUBACK, timeout=10).packet_id for _ in range(count)}
        assert acked == set(range(1, count + 1))
        time.sleep(0.3)
        proxy.reading.set()
        for i in range(count):
            p = sub.expect(PUBLISH, timeout=10)
            assert p.topic == "tls/fraglen"
            assert p.payload == payload_for(i, size), f"message {i} arrived altered ({len(p.payload)} bytes)"
            sub.send(bytes([0x40, 0x02]) + p.packet_id.to_bytes(2, "big"))  # PUBACK
        assert proxy.error is None, proxy.error
        # TLS 1.3 ciphertext: 512 bytes of content, its type byte and a 16-byte tag.
        assert proxy.largest_record <= 512 + 17, f"a {proxy.largest_record}-byte record: 512 was not negotiated"
        assert proxy.records > count * size // 512
    finally:
        sub.close()
        pub.close()


def test_a_closing_broker_sends_close_notify(tls_broker):
    c = tls_connected(tls_broker, "tls-close-notify")
    try:
        c.send(b"\xf0\x00")  # reserved packet type: the broker closes the connection
        with pytest.raises(Closed):
            while True:
                c.read_packet(timeout=5)
        assert not c.truncated, "the broker closed the TLS connection without close_notify"
    finally:
        c.close()


def test_the_broker_answers_a_client_close_notify_and_keeps_serving(tls_broker):
    c = tls_connected(tls_broker, "tls-client-unwrap")
    c.sock.settimeout(5)
    plain = c.sock.unwrap()  # sends close_notify and waits for the broker's
    plain.close()
    again = tls_connected(tls_broker, "tls-after-unwrap")
    again.close()


def test_tls12_renegotiation_is_refused_and_the_broker_keeps_serving(tls_broker):
    # Python cannot renegotiate; openssl s_client can ("R" on its input). A renegotiation
    # would make the broker redo a handshake's RSA signature on demand.
    b, _ = tls_broker
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{b.port('mqtts')}", "-tls1_2"],
                       input=b"R\n", capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert "RENEGOTIATING" in out, out[-2000:]
    assert "no renegotiation" in out, f"the broker renegotiated:\n{out[-2000:]}"
    again = tls_connected(tls_broker, "tls-after-renegotiation")
    again.close()


def test_tls13_key_update_is_answered_and_mqtt_goes_on(tls_broker):
    # "K" on openssl s_client's input sends a KeyUpdate that requests the broker's own, which
    # OpenSSL writes from inside the broker's SSL_read. The CONNECT after it, and the
    # CONNACK back, run under the new keys in both directions.
    b, _ = tls_broker
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{b.port('mqtts')}", "-tls1_3"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # the handshake
        p.stdin.write(b"K\n")  # a command only when it is the whole read
        p.stdin.flush()
        time.sleep(0.5)
        p.stdin.write(connect_packet("tls-key-update-client"))
        p.stdin.flush()
        time.sleep(1.0)
        out, err = p.communicate(timeout=10)  # closes the input: s_client ends
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert b"KEYUPDATE" in err, err.decode(errors="replace")[-2000:]
    assert b"\x20\x02\x00\x00" in out, "no CONNACK after the key update"
    again = tls_connected(tls_broker, "tls-after-key-update")
    again.close()


@pytest.mark.skipif(bool(os.environ.get("PORTCULLIS_SANITIZED")),
                    reason="AddressSanitizer's shadow memory and quarantine make RSS meaningless")
def test_idle_tls_connections_hold_little_memory(tls_broker):
    # An idle TLS connection keeps its SSL object and session, not OpenSSL's 17 KiB record
    # buffers (released between records) nor per-connection read/write buffers. Asio's
    # ssl::stream held ~70 KB per connection; Mosquitto's connections hold ~21 KB.
    b, _ = tls_broker
    n = 400
    warm = [tls_connected(tls_broker, f"tls-idle-warm-{i}") for i in range(20)]
    clients = []
    try:
        time.sleep(0.2)
        before = b.rss_kib()
        for i in range(n):
            clients.append(tls_connected(tls_broker, f"tls-idle-{i:04d}"))
        time.sleep(0.5)
        per_conn = (b.rss_kib() - before) * 1024 / n
        assert per_conn < 32 * 1024, f"{per_conn:.0f} bytes of broker RSS per idle TLS connection"
    finally:
        for c in clients + warm:
            c.close()
