"""Publish/subscribe basics over real TCP (SPEC §6): QoS 0 and 1, PUBACK, wildcards,
overlapping subscriptions, ordering, UNSUBSCRIBE, PINGREQ and DISCONNECT."""

import pytest

from mqtt_helpers import (PINGREQ_PACKET, DISCONNECT_PACKET, PINGRESP, PUBACK, PUBLISH, SUBACK,
                          connected_client, publish_packet, raw_connected, subscribe_packet,
                          unsubscribe_packet, UNSUBACK)


@pytest.fixture(scope="module")
def port(module_broker_factory):
    return module_broker_factory().port()


@pytest.fixture
def clients(port):
    made = []

    def make(**kw):
        c = connected_client(port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_qos0_publish_is_delivered(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe([("ps/q0", 0)]) == [0]
    pub.publish("ps/q0", b"hello", qos=0)
    (m,) = sub.expect(1)
    assert (m.topic, m.payload, m.qos, m.retain) == ("ps/q0", b"hello", 0, False)


def test_qos1_publish_is_acknowledged_and_delivered_at_qos1(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe([("ps/q1", 1)]) == [1]
    info = pub.publish("ps/q1", b"\x00\x01binary\xff", qos=1)  # waits for PUBACK
    assert info.is_published()
    (m,) = sub.expect(1)
    assert (m.topic, m.payload, m.qos, m.dup) == ("ps/q1", b"\x00\x01binary\xff", 1, False)


def test_qos1_publish_to_qos0_subscription_is_downgraded(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe([("ps/down", 0)]) == [0]
    pub.publish("ps/down", b"x", qos=1)
    (m,) = sub.expect(1)
    assert m.qos == 0


def test_raw_puback_carries_the_packet_id(port):
    c = raw_connected(port)
    try:
        c.send(publish_packet("ps/rawack", b"p", qos=1, packet_id=0x1234))
        ack = c.expect(PUBACK)
        assert ack.body == b"\x12\x34"
    finally:
        c.close()


def test_single_level_wildcard(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe("wp/+/temp") == [1]
    for t in ("wp/a/temp", "wp/b/humidity", "wp/a/b/temp", "wp//temp", "wp/temp", "wp/c/temp"):
        pub.publish(t, t.encode(), qos=1)
    pub.publish("wp/end/temp", b"end", qos=1)
    got = [m.topic for m in sub.collect_until(lambda m: m.payload == b"end")]
    # An empty level is a level: "wp//temp" matches "wp/+/temp".
    assert got == ["wp/a/temp", "wp//temp", "wp/c/temp", "wp/end/temp"]


def test_multi_level_wildcard_matches_parent_and_descendants(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe("wh/a/#") == [1]
    for t in ("wh/a", "wh/a/b", "wh/a/b/c/d", "wh/ab", "wh/b/a", "wh"):
        pub.publish(t, t.encode(), qos=1)
    pub.publish("wh/a/end", b"end", qos=1)
    got = [m.topic for m in sub.collect_until(lambda m: m.payload == b"end")]
    assert got == ["wh/a", "wh/a/b", "wh/a/b/c/d", "wh/a/end"]


def test_hash_alone_receives_everything_of_the_tenant(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe("#") == [1]
    pub.publish("any/where/at/all", b"1", qos=1)
    pub.publish("x", b"2", qos=1)
    topics = {m.topic for m in sub.collect_until(lambda m: m.payload == b"2")}
    assert {"any/where/at/all", "x"} <= topics


def test_overlapping_subscriptions_deliver_once_at_highest_qos(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe([("ov/+", 0), ("ov/#", 1), ("ov/x", 0)]) == [0, 1, 0]
    pub.publish("ov/x", b"one", qos=1)
    pub.publish("ov/end", b"end", qos=1)
    got = sub.collect_until(lambda m: m.payload == b"end")
    assert [(m.topic, m.payload, m.qos) for m in got] == [("ov/x", b"one", 1), ("ov/end", b"end", 1)]
    assert sub.drain(0.3) == []


def test_resubscribe_replaces_qos_instead_of_duplicating(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe([("rs/t", 1)]) == [1]
    assert sub.subscribe([("rs/t", 0)]) == [0]
    pub.publish("rs/t", b"a", qos=1)
    pub.publish("rs/t", b"end", qos=1)
    got = sub.collect_until(lambda m: m.payload == b"end")
    assert [(m.payload, m.qos) for m in got] == [(b"a", 0), (b"end", 0)]


def test_qos1_stream_arrives_complete_and_in_order(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe("ord/s") == [1]
    n = 200
    infos = [pub.publish("ord/s", str(i).encode(), qos=1, wait=False) for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()
    got = sub.expect(n, timeout=15)
    assert [int(m.payload) for m in got] == list(range(n))
    assert all(m.qos == 1 for m in got)


def test_unsubscribe_stops_delivery(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe([("un/a", 1), ("un/b", 1)]) == [1, 1]
    pub.publish("un/a", b"before", qos=1)
    assert sub.expect(1)[0].payload == b"before"
    sub.unsubscribe("un/a")
    pub.publish("un/a", b"after", qos=1)
    pub.publish("un/b", b"marker", qos=1)
    got = sub.collect_until(lambda m: m.payload == b"marker")
    assert [m.payload for m in got] == [b"marker"]


def test_raw_unsuback_echoes_packet_id(port):
    c = raw_connected(port)
    try:
        c.send(subscribe_packet(7, [("ru/x", 1)]))
        assert c.expect(SUBACK).body == b"\x00\x07\x01"
        c.send(unsubscribe_packet(0x0102, ["ru/x", "never/subscribed"]))
        assert c.expect(UNSUBACK).body == b"\x01\x02"
    finally:
        c.close()


def test_publisher_receives_its_own_message_when_subscribed(clients):
    c = clients()
    assert c.subscribe("self/t") == [1]
    c.publish("self/t", b"echo", qos=1)
    assert c.expect(1)[0].payload == b"echo"


def test_pingreq_gets_pingresp(port):
    c = raw_connected(port, keepalive=10)
    try:
        for _ in range(3):
            c.send(PINGREQ_PACKET)
            p = c.expect(PINGRESP)
            assert (p.flags, p.body) == (0, b"")
    finally:
        c.close()


def test_disconnect_closes_the_connection_cleanly(port, clients):
    c = raw_connected(port)
    sub = clients()
    assert sub.subscribe("dc/t") == [1]
    c.send(DISCONNECT_PACKET)
    assert c.wait_closed(3), "broker kept the connection open after DISCONNECT"
    c.close()
    # The broker still serves others afterwards.
    pub = clients()
    pub.publish("dc/t", b"after", qos=1)
    assert sub.expect(1)[0].payload == b"after"


def test_raw_subscriber_gets_exact_publish_frame(port, clients):
    raw = raw_connected(port)
    try:
        assert raw.subscribe([("fr/t", 1)]) == [1]
        clients().publish("fr/t", b"payload", qos=1)
        p = raw.expect(PUBLISH)
        assert (p.topic, p.payload, p.qos, p.dup, p.retain) == ("fr/t", b"payload", 1, False, False)
        assert p.packet_id != 0
    finally:
        raw.close()


def test_large_payload_just_under_the_limit_is_delivered(clients):
    sub, pub = clients(), clients()
    assert sub.subscribe("big/t") == [1]
    payload = bytes(range(256)) * 80  # 20480 bytes, well under 24 KiB with headers
    pub.publish("big/t", payload, qos=1)
    assert sub.expect(1)[0].payload == payload
