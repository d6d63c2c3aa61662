"""CONNECT handling (SPEC §6): protocol level, packet order, client id bounds and
broker-assigned ids."""

import pytest

from mqtt_helpers import (CONNACK, PINGREQ_PACKET, Closed, RawClient, connect_packet, publish_packet,
                          raw_connected, subscribe_packet, PUBLISH, connected_client)


@pytest.fixture(scope="module")
def open_broker(module_broker_factory):
    """min_length 0 (the test default)."""
    return module_broker_factory()


@pytest.fixture(scope="module")
def open_port(open_broker):
    return open_broker.port()


@pytest.fixture(scope="module")
def strict_port(module_broker_factory):
    return module_broker_factory({"auth": {"client_id": {"min_length": 16, "max_length": 128}}}).port()


def connack_then_state(port, **kw):
    """(return code, session present, closed afterwards?) for one CONNECT."""
    c = RawClient(port)
    try:
        rc, present = c.connect(**kw)
        closed = c.wait_closed(2) if rc != 0 else c.wait_closed(0.2)
        return rc, present, closed
    finally:
        c.close()


@pytest.mark.parametrize("name,level", [("MQIsdp", 3), ("MQTT", 3), ("MQTT", 5), ("MQTT", 0)])
def test_unsupported_protocol_level_gets_0x01_and_close(open_port, name, level):
    rc, present, closed = connack_then_state(open_port, client_id="level-test-client", proto_name=name, level=level)
    assert (rc, present, closed) == (0x01, False, True)


def test_a_real_mqtt5_connect_gets_0x01_and_close(open_port):
    # An MQTT 5 client lays its CONNECT out with properties (here: receive maximum 10, and an
    # empty will/payload property set is not needed without a will). It must hear "unacceptable
    # protocol version" [MQTT-3.1.2-2], not be cut off as malformed.
    client_id = b"mqtt5-client-000001"
    body = (b"\x00\x04MQTT\x05" + b"\x02" + b"\x00\x1e" + b"\x03\x21\x00\x0a"
            + len(client_id).to_bytes(2, "big") + client_id)
    c = RawClient(open_port)
    try:
        c.send(bytes([0x10, len(body)]) + body)
        p = c.read_packet(3)
        assert p.type == CONNACK and p.body == b"\x00\x01", p
        assert c.wait_closed(3)
    finally:
        c.close()


def test_wrong_protocol_name_closes(open_port):
    c = RawClient(open_port)
    try:
        c.send(connect_packet("bad-name-client", proto_name="MQTX", level=4))
        # MQTT-3.1.2-1: the server MAY send CONNACK 0x01 but must close; either way no session.
        try:
            p = c.read_packet(3)
            assert p.type == CONNACK and p.body[1] != 0, f"accepted a CONNECT named MQTX: {p}"
            assert c.wait_closed(3)
        except Closed:
            pass
    finally:
        c.close()


@pytest.mark.parametrize("first", [PINGREQ_PACKET, publish_packet("a/b", b"x"),
                                   subscribe_packet(1, [("a/b", 0)]), b"\xe0\x00"],
                         ids=["pingreq", "publish", "subscribe", "disconnect"])
def test_first_packet_not_connect_closes(open_port, first):
    c = RawClient(open_port)
    try:
        c.send(first)
        try:
            p = c.read_packet(3)
            pytest.fail(f"broker answered packet type {p.type} to a non-CONNECT first packet")
        except Closed:
            pass
    finally:
        c.close()


def test_second_connect_closes(open_port):
    c = raw_connected(open_port, "second-connect-client")
    try:
        c.send(connect_packet("second-connect-client"))
        try:
            p = c.read_packet(3)
            pytest.fail(f"broker answered packet type {p.type} to a second CONNECT")
        except Closed:
            pass
    finally:
        c.close()


def test_connack_for_new_clean_session(open_port):
    rc, present, closed = connack_then_state(open_port, client_id="fresh-client-0001", clean=True)
    assert (rc, present, closed) == (0, False, False)


@pytest.mark.parametrize("length,expected", [(15, 0x02), (16, 0), (64, 0), (128, 0), (129, 0x02), (1000, 0x02)])
def test_client_id_length_bounds(strict_port, length, expected):
    client_id = ("c" * length)[:length]
    rc, _, closed = connack_then_state(strict_port, client_id=client_id)
    assert rc == expected, f"client id of {length} chars: CONNACK {rc:#x}"
    assert closed == (expected != 0)


@pytest.mark.parametrize("length,expected", [(15, 0x02), (16, 0), (128, 0), (129, 0x02)])
def test_client_id_bounds_count_characters_not_bytes(strict_port, length, expected):
    # Seed 000: "cannot exceed 128 chars and should not be shorter than 16 chars". Two bytes each.
    rc, _, closed = connack_then_state(strict_port, client_id="é" * length)
    assert rc == expected, f"client id of {length} two-byte characters: CONNACK {rc:#x}"
    assert closed == (expected != 0)


def test_empty_client_id_clean_session_gets_assigned_id_when_min_length_is_zero(open_port, open_broker):
    broker = open_broker
    mark = broker.log_mark()
    c = RawClient(open_port)
    pub = None
    try:
        rc, present = c.connect("", clean=True)
        assert (rc, present) == (0, False)
        m = broker.wait_log(r"\bconnected client_id=(\S*)", start=mark)
        assert m.group(1) not in ("", "''", '""'), "no broker-assigned client id"
        pub = connected_client(open_port)
        # The session works: subscribe and receive.
        assert c.subscribe([("assigned/t", 1)]) == [1]
        pub.publish("assigned/t", b"hi", qos=1)
        p = c.expect(PUBLISH)
        assert p.payload == b"hi"
    finally:
        c.close()
        if pub:
            pub.close()


def test_two_empty_client_ids_get_distinct_sessions(open_port):
    a, b = RawClient(open_port), RawClient(open_port)
    try:
        assert a.connect("", clean=True) == (0, False)
        assert b.connect("", clean=True) == (0, False)
        # No takeover between them: both stay open and answer PINGREQ.
        for c in (a, b):
            c.send(PINGREQ_PACKET)
            assert c.read_packet(3).type == 13
    finally:
        a.close()
        b.close()


def test_empty_client_id_with_persistent_session_gets_0x02(open_port):
    rc, present, closed = connack_then_state(open_port, client_id="", clean=False)
    assert (rc, present, closed) == (0x02, False, True)


def test_empty_client_id_gets_0x02_when_min_length_is_positive(strict_port):
    rc, _, closed = connack_then_state(strict_port, client_id="", clean=True)
    assert (rc, closed) == (0x02, True)


def test_client_id_with_invalid_utf8_is_refused(open_port):
    c = RawClient(open_port)
    try:
        body = b"\x00\x04MQTT\x04\x02\x00\x1e" + b"\x00\x04ab\xff\xfe"
        c.send(bytes([0x10, len(body)]) + body)
        try:
            p = c.read_packet(3)
            assert p.type == CONNACK and p.body[1] != 0, "accepted a client id that is not UTF-8"
            assert c.wait_closed(3)
        except Closed:
            pass
    finally:
        c.close()


def test_password_without_username_closes(open_port):
    """MQTT-3.1.2-22: password flag set with username flag clear is malformed."""
    c = RawClient(open_port)
    try:
        c.send(connect_packet("pw-no-user-client", password=b"secret"))
        try:
            p = c.read_packet(3)
            assert p.type == CONNACK and p.body[1] != 0, "accepted password without user name"
            assert c.wait_closed(3)
        except Closed:
            pass
    finally:
        c.close()
