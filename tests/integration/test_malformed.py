"""Malformed input on a raw socket (SPEC §6: malformed packets close the connection).
Each case must close only the offending connection: the daemon and a client connected
before the attack keep working."""

import random
import struct

import pytest

from mqtt_helpers import Closed, RawClient, connect_packet, connected_client, mqtt_str, packet, raw_connected


@pytest.fixture(scope="module")
def broker(module_broker_factory):
    return module_broker_factory()


@pytest.fixture(scope="module")
def witness(broker):
    """A subscriber and a publisher that stay connected through every case in this module."""
    sub = connected_client(broker.port(), "witness-subscriber")
    pub = connected_client(broker.port(), "witness-publisher")
    assert sub.subscribe("witness/t") == [1]
    yield sub, pub
    assert not sub.disconnected.is_set() and not pub.disconnected.is_set(), "a witness was disconnected"
    sub.close()
    pub.close()


def check_witness(witness, tag: str):
    sub, pub = witness
    assert not sub.disconnected.is_set() and not pub.disconnected.is_set(), "witness lost its connection"
    pub.publish("witness/t", tag.encode(), qos=1)
    got = sub.expect(1)
    assert got[0].payload == tag.encode()


def assert_closed_without_answer(c: RawClient, what: str):
    try:
        p = c.read_packet(3)
        pytest.fail(f"{what}: broker answered packet type {p.type} instead of closing")
    except Closed:
        pass


def _publish_qos1_id0():
    return packet(0x32, mqtt_str("a/b") + b"\x00\x00" + b"x")


def _subscribe_empty():
    return packet(0x82, b"\x00\x01")


def _subscribe_bad_qos():
    return packet(0x82, b"\x00\x01" + mqtt_str("a/b") + b"\x03")


def _subscribe_reserved_qos_bits():
    return packet(0x82, b"\x00\x01" + mqtt_str("a/b") + b"\x41")


def _unsubscribe_bad_flags():
    return packet(0xA0, b"\x00\x01" + mqtt_str("a/b"))


def _topic_length_past_end():
    return packet(0x30, b"\x00\x40" + b"a/b")


def _puback_wrong_length():
    return packet(0x40, b"\x00\x01\x00")


def _pingreq_with_body():
    return packet(0xC0, b"\x00")


def _connack_from_client():
    return b"\x20\x02\x00\x00"


def _utf8_surrogate_topic():
    return packet(0x30, struct.pack("!H", 5) + b"a/\xed\xa0\x80")


def _overlong_utf8_topic():
    return packet(0x30, struct.pack("!H", 4) + b"a/\xc0\xaf")


AFTER_CONNECT = {
    "remaining-length-5-bytes": b"\x30\xff\xff\xff\xff\x7f",
    "remaining-length-overlong-zero": b"\x30\x80\x80\x80\x80\x00",
    "reserved-type-0": b"\x00\x00",
    "reserved-type-15": b"\xf0\x00",
    "subscribe-flags-0": packet(0x80, b"\x00\x01" + mqtt_str("a/b") + b"\x01"),
    "subscribe-flags-f": packet(0x8F, b"\x00\x01" + mqtt_str("a/b") + b"\x01"),
    "subscribe-no-filters": _subscribe_empty(),
    "subscribe-qos-3": _subscribe_bad_qos(),
    "subscribe-reserved-bits": _subscribe_reserved_qos_bits(),
    "unsubscribe-flags-0": _unsubscribe_bad_flags(),
    "publish-invalid-utf8-topic": packet(0x30, struct.pack("!H", 3) + b"a/\xff"),
    "publish-utf8-surrogate-topic": _utf8_surrogate_topic(),
    "publish-overlong-utf8-topic": _overlong_utf8_topic(),
    "publish-empty-topic": packet(0x30, b"\x00\x00" + b"x"),
    "publish-qos1-packet-id-0": _publish_qos1_id0(),
    "publish-topic-length-past-end": _topic_length_past_end(),
    "publish-qos3": packet(0x36, mqtt_str("a/b") + b"\x00\x01x"),
    "puback-wrong-length": _puback_wrong_length(),
    "pingreq-with-body": _pingreq_with_body(),
    "connack-from-client": _connack_from_client(),
    "disconnect-flags": b"\xe1\x00",
}


@pytest.mark.parametrize("case", list(AFTER_CONNECT), ids=list(AFTER_CONNECT))
def test_malformed_packet_after_connect_closes_only_that_connection(broker, witness, case):
    c = raw_connected(broker.port(), f"malformed-{case}"[:60])
    try:
        c.try_send(AFTER_CONNECT[case])
        assert_closed_without_answer(c, case)
    finally:
        c.close()
    assert broker.is_running()
    check_witness(witness, case)


BEFORE_CONNECT = {
    "connect-reserved-flag": connect_packet("reserved-flag-client", extra_flags=0x01),
    "connect-will-qos-without-will": connect_packet("will-qos-client-01", extra_flags=0x08),
    "connect-will-retain-without-will": connect_packet("will-ret-client-01", extra_flags=0x20),
    "connect-will-qos-3": connect_packet("will-qos3-client-1", will=("w/t", b"x", 3, False)),
    "connect-flags-nonzero-header": bytes([0x11]) + connect_packet("hdr-flags-client-1")[1:],
    "connect-truncated-then-more-garbage": connect_packet("truncated-client-01")[:12] + b"\xff" * 40,
    "http-request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "tls-client-hello": bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00" * 40,
}


@pytest.mark.parametrize("case", list(BEFORE_CONNECT), ids=list(BEFORE_CONNECT))
def test_malformed_first_packet_closes(broker, witness, case):
    c = RawClient(broker.port())
    try:
        c.try_send(BEFORE_CONNECT[case])
        try:
            p = c.read_packet(3)
            # An implementation may answer a bad CONNECT with a refusing CONNACK before closing.
            assert p.type == 2 and p.body[1] != 0, f"{case}: broker answered {p.type} {p.body!r}"
            assert c.wait_closed(3)
        except Closed:
            pass
    finally:
        c.close()
    check_witness(witness, case)


def test_truncated_body_then_close(broker, witness):
    c = raw_connected(broker.port(), "truncated-body-client")
    c.send(b"\x30\x64" + mqtt_str("a/b") + b"0123456")  # announces 100 bytes, sends 12
    c.abort()
    c2 = raw_connected(broker.port(), "truncated-body-client2")
    c2.send(b"\x30\x64" + mqtt_str("a/b"))
    c2.close()
    check_witness(witness, "truncated")


@pytest.mark.parametrize("seed", range(6))
def test_random_garbage(broker, witness, seed):
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4000)))
    connected = seed % 2 == 1
    c = raw_connected(broker.port(), f"garbage-client-{seed}") if connected else RawClient(broker.port())
    try:
        c.try_send(data)
        # Either closed or (if the bytes happen to form a partial frame) waiting for more:
        # half-close our side, which makes any partial frame a truncated one.
        try:
            c.sock.shutdown(1)
        except OSError:
            pass
        assert c.wait_closed(12), "the broker kept a connection open after garbage and EOF"
    finally:
        c.close()
    assert broker.is_running()
    check_witness(witness, f"garbage-{seed}")


def test_many_malformed_connections_in_a_row(broker, witness):
    for i in range(30):
        c = RawClient(broker.port())
        c.try_send(b"\x10\xff\xff\xff\xff\xff")
        c.wait_closed(3)
        c.close()
    check_witness(witness, "many")
