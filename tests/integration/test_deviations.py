"""The documented deviations from MQTT 3.1.1 (SPEC §6), in both modes of
`mqtt.unsupported_features`: no QoS 2, no retain, no will, a 24 KiB packet cap decided from
the fixed header, and the topic alphabet."""

import time

import pytest

from mqtt_helpers import (PUBLISH, Closed, RawClient, connected_client, encode_remaining_length,
                          publish_packet, raw_connected, round_trip, subscribe_packet, SUBACK)

MAX_PACKET = 24576


@pytest.fixture(scope="module")
def brokers(module_broker_factory):
    return {mode: module_broker_factory({"mqtt": {"unsupported_features": mode}})
            for mode in ("reject", "ignore")}


@pytest.fixture(params=["reject", "ignore"])
def mode_port(request, brokers):
    return request.param, brokers[request.param].port()


# ---- QoS 2 ---------------------------------------------------------------------------
def test_qos2_publish_closes_the_connection(mode_port):
    mode, port = mode_port
    sub = connected_client(port)
    c = raw_connected(port)
    try:
        assert sub.subscribe(f"q2/{mode}") == [1]
        c.send(publish_packet(f"q2/{mode}", b"x", qos=2, packet_id=5))
        assert c.wait_closed(3), "QoS 2 PUBLISH did not close the connection"
        assert sub.drain(0.3) == [], "the QoS 2 message was delivered"
    finally:
        c.close()
        sub.close()
    round_trip(port, f"after-q2-{mode}")


def test_subscribe_qos2_is_granted_qos1(mode_port):
    mode, port = mode_port
    sub, pub = connected_client(port), connected_client(port)
    try:
        assert sub.subscribe([(f"g2/{mode}", 2), (f"g2b/{mode}", 0)]) == [1, 0]
        pub.publish(f"g2/{mode}", b"m", qos=1)
        (m,) = sub.expect(1)
        assert m.qos == 1
    finally:
        sub.close()
        pub.close()


# ---- Will ----------------------------------------------------------------------------
def test_will_flag_is_refused_with_0x05_in_reject_mode(brokers):
    c = RawClient(brokers["reject"].port())
    try:
        rc, present = c.connect("will-reject", will=("will/reject", b"gone", 1, False))
        assert (rc, present) == (0x05, False)
        assert c.wait_closed(3)
    finally:
        c.close()


def test_will_flag_is_accepted_but_never_published_in_ignore_mode(brokers):
    b = brokers["ignore"]
    port = b.port()
    watcher, marker = connected_client(port), connected_client(port)
    try:
        assert watcher.subscribe("will/ignore") == [1]
        mark = b.log_mark()
        c = RawClient(port)
        rc, _ = c.connect("will-ignore-client", will=("will/ignore", b"gone", 1, False))
        assert rc == 0
        c.abort()  # abrupt close: MQTT would publish the will now
        b.wait_log(r"disconnected client_id=will-ignore-client|closing client_id=will-ignore-client",
                   timeout=5, start=mark)
        marker.publish("will/ignore", b"marker", qos=1)
        got = watcher.collect_until(lambda m: m.payload == b"marker")
        assert [m.payload for m in got] == [b"marker"], "the will was published"
    finally:
        watcher.close()
        marker.close()


# ---- Retain --------------------------------------------------------------------------
def test_retain_publish_closes_in_reject_mode(brokers):
    port = brokers["reject"].port()
    sub = connected_client(port)
    c = raw_connected(port)
    try:
        assert sub.subscribe("ret/reject") == [1]
        c.send(publish_packet("ret/reject", b"r", qos=1, packet_id=1, retain=True))
        assert c.wait_closed(3), "RETAIN=1 did not close the connection"
        assert sub.drain(0.3) == []
    finally:
        c.close()
        sub.close()


def test_retain_is_dropped_in_ignore_mode(brokers):
    port = brokers["ignore"].port()
    early, pub = connected_client(port), connected_client(port)
    try:
        assert early.subscribe("ret/ignore") == [1]
        pub.publish("ret/ignore", b"kept?", qos=1, retain=True)
        (m,) = early.expect(1)
        assert (m.payload, m.retain) == (b"kept?", False)
        late = connected_client(port)
        try:
            assert late.subscribe("ret/ignore") == [1]
            pub.publish("ret/ignore", b"marker", qos=1)
            got = late.collect_until(lambda m: m.payload == b"marker")
            assert [m.payload for m in got] == [b"marker"], "a retained message reached a later subscriber"
        finally:
            late.close()
    finally:
        early.close()
        pub.close()


# ---- Packet size ---------------------------------------------------------------------
def _publish_of_total_size(topic: str, total: int) -> bytes:
    header_guess = publish_packet(topic, b"", qos=0)
    payload_len = total - len(header_guess)
    while True:
        p = publish_packet(topic, b"z" * payload_len, qos=0)
        if len(p) == total:
            return p
        payload_len -= len(p) - total


def test_packet_of_exactly_max_size_is_accepted(mode_port):
    mode, port = mode_port
    sub = connected_client(port)
    c = raw_connected(port)
    try:
        assert sub.subscribe(f"size/{mode}") == [1]
        pkt = _publish_of_total_size(f"size/{mode}", MAX_PACKET)
        assert len(pkt) == MAX_PACKET
        c.send(pkt)
        (m,) = sub.expect(1)
        assert m.payload == pkt[-len(m.payload):] and len(m.payload) > 24000
        assert not c.wait_closed(0.2), "a packet of exactly max_packet_bytes closed the connection"
    finally:
        c.close()
        sub.close()


def test_packet_one_byte_over_max_size_closes(mode_port):
    mode, port = mode_port
    sub = connected_client(port)
    c = raw_connected(port)
    try:
        assert sub.subscribe(f"over/{mode}") == [1]
        c.try_send(_publish_of_total_size(f"over/{mode}", MAX_PACKET + 1))
        assert c.wait_closed(3), "oversize packet did not close the connection"
        assert sub.drain(0.3) == [], "the oversize message was delivered"
    finally:
        c.close()
        sub.close()
    round_trip(port, f"after-oversize-{mode}")


def test_oversize_is_decided_from_the_fixed_header_alone(mode_port):
    mode, port = mode_port
    c = raw_connected(port)
    try:
        # Only the fixed header of a 1 MB PUBLISH; the body is never sent.
        c.send(bytes([0x30]) + encode_remaining_length(1_000_000))
        t0 = time.monotonic()
        assert c.wait_closed(3), "broker waited for the body of an oversize packet"
        assert time.monotonic() - t0 < 3
    finally:
        c.close()


def test_oversize_subscribe_closes_too(brokers):
    c = raw_connected(brokers["reject"].port())
    try:
        filters = [(f"f/{i:05d}/" + "x" * 200, 1) for i in range(130)]  # ~27 KB SUBSCRIBE
        pkt = subscribe_packet(1, filters)
        assert len(pkt) > MAX_PACKET
        c.try_send(pkt)
        assert c.wait_closed(3)
    finally:
        c.close()


def test_oversize_connect_closes(brokers):
    c = RawClient(brokers["reject"].port())
    try:
        c.try_send(bytes([0x10]) + encode_remaining_length(100_000))
        assert c.wait_closed(3)
    finally:
        c.close()


# ---- Topic alphabet ------------------------------------------------------------------
@pytest.mark.parametrize("topic", ["a/b c", "a/$x", "\u00e9", "a/+", "a/#", "$SYS/x", "a.b", "a/b\u0000"],
                         ids=["space", "dollar-level", "non-ascii", "plus", "hash", "sys", "dot", "nul"])
def test_publish_to_invalid_topic_closes(brokers, topic):
    port = brokers["reject"].port()
    c = raw_connected(port)
    try:
        c.send(publish_packet(topic, b"x", qos=1, packet_id=3))
        try:
            p = c.read_packet(3)
            pytest.fail(f"broker answered {p.type} instead of closing for topic {topic!r}")
        except Closed:
            pass
    finally:
        c.close()


@pytest.mark.parametrize("topic", ["a-b_c~d/0/Z9", "a//b", "/lead", "trail/"])
def test_publish_to_valid_unusual_topics_is_delivered(brokers, topic):
    port = brokers["reject"].port()
    sub, pub = connected_client(port), connected_client(port)
    try:
        assert sub.subscribe(topic) == [1]
        pub.publish(topic, b"ok", qos=1)
        (m,) = sub.expect(1)
        assert m.topic == topic
    finally:
        sub.close()
        pub.close()


def test_subscribe_with_invalid_filters_gets_0x80_only_for_those(brokers):
    port = brokers["reject"].port()
    c = raw_connected(port)
    pub = connected_client(port)
    try:
        filters = [("ok/one", 1), ("a/b c", 1), ("ok/+/two", 0), ("a/#/b", 1), ("a+/b", 1),
                   ("$SYS/#", 0), ("\u00e9/x", 1), ("ok/three/#", 2), ("#/x", 1), ("", 1)]
        c.send(subscribe_packet(9, filters))
        ack = c.expect(SUBACK)
        assert ack.packet_id == 9
        assert list(ack.body[2:]) == [1, 0x80, 0, 0x80, 0x80, 0x80, 0x80, 1, 0x80, 0x80]
        # The granted ones work.
        for t in ("ok/one", "ok/x/two", "ok/three/deep"):
            pub.publish(t, t.encode(), qos=1)
        got = [c.expect(PUBLISH) for _ in range(3)]
        assert sorted(p.topic for p in got) == ["ok/one", "ok/three/deep", "ok/x/two"]
        for p in got:
            if p.qos:
                c.send(bytes([0x40, 2]) + p.packet_id.to_bytes(2, "big"))
    finally:
        c.close()
        pub.close()


def test_sys_subscription_refused_and_receives_nothing(brokers):
    port = brokers["reject"].port()
    sub = connected_client(port)
    try:
        assert sub.subscribe([("$SYS/#", 0)]) == [0x80]
        assert sub.subscribe([("$SYS/broker/uptime", 1)]) == [0x80]
    finally:
        sub.close()
