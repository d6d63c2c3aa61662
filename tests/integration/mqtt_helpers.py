"""MQTT clients for the integration tests.

`PahoClient` wraps paho-mqtt 1.6 (threaded loop, no automatic reconnect, so a closed
connection stays closed and a takeover cannot ping-pong). `RawClient` speaks MQTT over a
plain socket with packets built by hand, to send malformed input and read exact return
codes, flags and packet ids. Every wait has a deadline.
"""

import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

DEFAULT_TIMEOUT = 5.0

# Packet types (MQTT 3.1.1 §2.2.1).
CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14


# ======================================================================================
# Paho
# ======================================================================================
@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    at: float


class PahoClient:
    """One paho client on its own network thread; messages land in `self.messages`."""

    def __init__(self, port: int, client_id: str = "", clean_session: bool = True, keepalive: int = 30):
        self.port = port
        self.client_id = client_id
        self.keepalive = keepalive
        self.client = mqtt.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        self.client.max_queued_messages_set(0)
        self.messages: "queue.Queue[Received]" = queue.Queue()
        self.connack = queue.Queue()          # (rc, session_present)
        self.disconnected = threading.Event()
        self.disconnect_rc = None
        self._lock = threading.Lock()
        self._subacks: dict = {}
        self._unsubacks: set = set()
        self._cond = threading.Condition(self._lock)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe

    # ---- callbacks (paho thread) -----------------------------------------------------
    def _on_connect(self, client, userdata, flags, rc):
        self.connack.put((rc, bool(flags.get("session present", 0))))

    def _on_disconnect(self, client, userdata, rc):
        self.disconnect_rc = rc
        self.disconnected.set()

    def _on_message(self, client, userdata, msg):
        self.messages.put(Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), bool(msg.dup),
                                   time.monotonic()))

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self._cond:
            self._subacks[mid] = list(granted_qos)
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid):
        with self._cond:
            self._unsubacks.add(mid)
            self._cond.notify_all()

    # ---- operations --------------------------------------------------------------------
    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, bool]:
        """Connects and waits for CONNACK; returns (return code, session present).
        A connection closed without CONNACK raises."""
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.connack.get(timeout=0.05)
            except queue.Empty:
                if self.disconnected.is_set():
                    raise ConnectionError(f"closed before CONNACK (rc={self.disconnect_rc})")
        raise TimeoutError("no CONNACK")

    def subscribe(self, filters, timeout: float = DEFAULT_TIMEOUT) -> list:
        """filters: [(filter, qos), ...] or a single filter string (QoS 1). Returns granted QoS list."""
        if isinstance(filters, str):
            filters = [(filters, 1)]
        rc, mid = self.client.subscribe(list(filters))
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe failed locally: {rc}"
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._subacks, timeout)
            assert ok, f"no SUBACK for {filters}"
            return self._subacks.pop(mid)

    def unsubscribe(self, topic: str, timeout: float = DEFAULT_TIMEOUT):
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        with self._cond:
            assert self._cond.wait_for(lambda: mid in self._unsubacks, timeout), "no UNSUBACK"

    def publish(self, topic: str, payload, qos: int = 0, retain: bool = False, wait: bool = True,
                timeout: float = DEFAULT_TIMEOUT):
        """Publishes; with QoS 1 and wait, returns once the PUBACK arrived (raises otherwise)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish failed locally: {info.rc}"
        if wait:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"no PUBACK/send for {topic} within {timeout} s"
        return info

    def expect(self, count: int = 1, timeout: float = DEFAULT_TIMEOUT) -> list:
        """Returns exactly `count` next messages, failing if they do not arrive in time."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"received {len(out)} of {count} messages within {timeout} s: "
                                     f"{[(m.topic, m.payload[:40]) for m in out]}")
            try:
                out.append(self.messages.get(timeout=min(remaining, 0.1)))
            except queue.Empty:
                pass
        return out

    def collect_until(self, predicate, timeout: float = DEFAULT_TIMEOUT) -> list:
        """Collects messages up to and including the first for which predicate(msg) holds."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"marker not received within {timeout} s; got "
                                     f"{[(m.topic, m.payload[:40]) for m in out]}")
            try:
                msg = self.messages.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            out.append(msg)
            if predicate(msg):
                return out

    def drain(self, quiet: float = 0.3) -> list:
        """Returns whatever arrives until nothing has arrived for `quiet` seconds."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=quiet))
            except queue.Empty:
                return out

    def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        return self.disconnected.wait(timeout)

    def close(self):
        try:
            if not self.disconnected.is_set():
                self.client.disconnect()
                self.disconnected.wait(2)
        finally:
            self.client.loop_stop()


def connected_client(port: int, client_id: str = "", clean_session: bool = True, keepalive: int = 30,
                     expect_present: bool | None = None) -> PahoClient:
    """A PahoClient whose CONNACK was 0 (and, when given, whose session-present flag matches)."""
    c = PahoClient(port, client_id, clean_session, keepalive)
    rc, present = c.connect()
    assert rc == 0, f"CONNACK {rc} for client {client_id!r}"
    if expect_present is not None:
        assert present == expect_present, f"session present {present}, expected {expect_present}"
    return c


# ======================================================================================
# Raw packets
# ======================================================================================
def encode_remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        digit = n % 128
        n //= 128
        if n:
            digit |= 0x80
        out.append(digit)
        if not n:
            return bytes(out)


def mqtt_str(s) -> bytes:
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_remaining_length(len(body)) + body


def connect_packet(client_id="", clean: bool = True, keepalive: int = 30, *, will: tuple | None = None,
                   username=None, password=None, proto_name="MQTT", level: int = 4,
                   extra_flags: int = 0) -> bytes:
    """CONNECT; will = (topic, payload, qos, retain); extra_flags ORs raw bits into the flags byte."""
    flags = extra_flags
    if clean:
        flags |= 0x02
    payload = mqtt_str(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += mqtt_str(topic) + mqtt_str(message)
    if username is not None:
        flags |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        flags |= 0x40
        payload += mqtt_str(password)
    var = mqtt_str(proto_name) + bytes([level, flags]) + struct.pack("!H", keepalive)
    return packet(0x10, var + payload)


def publish_packet(topic, payload: bytes = b"", qos: int = 0, packet_id: int = 1, retain: bool = False,
                   dup: bool = False) -> bytes:
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_str(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id)
    return packet(first, body + payload)


def subscribe_packet(packet_id: int, filters, flags: int = 0x02) -> bytes:
    body = struct.pack("!H", packet_id)
    for f, q in filters:
        body += mqtt_str(f) + bytes([q])
    return packet(0x80 | flags, body)


def unsubscribe_packet(packet_id: int, filters) -> bytes:
    return packet(0xA2, struct.pack("!H", packet_id) + b"".join(mqtt_str(f) for f in filters))


def puback_packet(packet_id: int) -> bytes:
    return packet(0x40, struct.pack("!H", packet_id))


PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"


@dataclass
class Packet:
    type: int
    flags: int
    body: bytes

    # PUBLISH accessors
    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 0x03

    @property
    def dup(self) -> bool:
        return bool(self.flags & 0x08)

    @property
    def retain(self) -> bool:
        return bool(self.flags & 0x01)

    @property
    def topic(self) -> str:
        (n,) = struct.unpack_from("!H", self.body, 0)
        return self.body[2:2 + n].decode()

    @property
    def packet_id(self) -> int:
        if self.type == PUBLISH:
            (n,) = struct.unpack_from("!H", self.body, 0)
            return struct.unpack_from("!H", self.body, 2 + n)[0] if self.qos else 0
        return struct.unpack_from("!H", self.body, 0)[0]

    @property
    def payload(self) -> bytes:
        (n,) = struct.unpack_from("!H", self.body, 0)
        return self.body[2 + n + (2 if self.qos else 0):]


class Closed(Exception):
    """The broker closed the connection."""


class RawClient:
    """A plain TCP MQTT client; read_packet() parses one frame, `closed` detection is exact."""

    def __init__(self, port: int, timeout: float = DEFAULT_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self.is_closed = False

    def send(self, data: bytes):
        self.sock.sendall(data)

    def try_send(self, data: bytes) -> bool:
        """Sends, returning False when the broker has already closed the socket."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from broker")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from broker") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.is_closed = True
            raise Closed()
        self._buf += chunk

    def read_packet(self, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        """Next packet; raises Closed on EOF/reset and TimeoutError when none arrives in time."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buf) >= 2:
                mult, length, i = 1, 0, 1
                complete = False
                while i < len(self._buf) and i <= 4:
                    b = self._buf[i]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        complete = True
                        break
                if complete and len(self._buf) >= i + length:
                    first = self._buf[0]
                    body = bytes(self._buf[i:i + length])
                    del self._buf[:i + length]
                    return Packet(first >> 4, first & 0x0F, body)
            self._fill(deadline)

    def expect(self, ptype: int, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        p = self.read_packet(timeout)
        assert p.type == ptype, f"expected packet type {ptype}, got {p.type} (flags {p.flags:#x}, body {p.body[:32]!r})"
        return p

    def connect(self, client_id="", clean: bool = True, keepalive: int = 30, **kw) -> tuple[int, bool]:
        """Sends CONNECT and returns (return code, session present) from CONNACK."""
        self.send(connect_packet(client_id, clean, keepalive, **kw))
        p = self.expect(CONNACK)
        assert len(p.body) == 2, f"CONNACK body {p.body!r}"
        return p.body[1], bool(p.body[0] & 0x01)

    def subscribe(self, filters, packet_id: int = 1, timeout: float = DEFAULT_TIMEOUT) -> list:
        self.send(subscribe_packet(packet_id, filters))
        p = self.expect(SUBACK, timeout)
        assert p.packet_id == packet_id
        return list(p.body[2:])

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True once the broker closed the connection within timeout (packets before are skipped)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.read_packet(max(deadline - time.monotonic(), 0.001))
        except Closed:
            return True
        except TimeoutError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes abruptly (RST), as a device losing power would look to the broker."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


def raw_connected(port: int, client_id="", clean: bool = True, keepalive: int = 30) -> RawClient:
    c = RawClient(port)
    rc, _ = c.connect(client_id, clean, keepalive)
    assert rc == 0, f"CONNACK {rc}"
    return c


def round_trip(port: int, tag: str, timeout: float = DEFAULT_TIMEOUT):
    """A fresh subscriber and publisher exchange one QoS 1 message: the broker still serves."""
    topic = f"health/{tag}"
    sub = connected_client(port)
    pub = connected_client(port)
    try:
        assert sub.subscribe(topic) == [1]
        pub.publish(topic, b"ping", qos=1)
        (m,) = sub.expect(1, timeout)
        assert m.payload == b"ping"
    finally:
        sub.close()
        pub.close()


def disconnect_and_wait(broker, client, client_id):
    """Closes a paho client and waits until the broker has noticed, so that what is
    published next is queued for the offline session rather than racing the close."""
    mark = broker.log_mark()
    client.close()
    broker.wait_log(rf"(disconnected|closing) client_id={client_id}\b", timeout=5, start=mark)


def raw_disconnect_and_wait(broker, raw, client_id, abrupt=False):
    mark = broker.log_mark()
    if abrupt:
        raw.abort()
    else:
        raw.send(DISCONNECT_PACKET)
        raw.wait_closed(3)
        raw.close()
    broker.wait_log(rf"(disconnected|closing) client_id={client_id}\b", timeout=5, start=mark)
