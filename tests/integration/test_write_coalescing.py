"""Write coalescing (issue #7: "coalesce each socket's pending packets into one write per
turn"): everything the packets of one read answer leaves in one write. A publisher that
sends a burst of QoS 1 PUBLISHes gets all their PUBACKs in one write, and a subscriber that
acknowledges its whole in-flight window gets the messages that frees in one write; the
broker counts its socket writes in /metrics (portcullis_socket_writes_total). Deferring the
writes must not lose an answer when a later packet of the same read closes the connection."""

import re

import pytest

from mqtt_helpers import DISCONNECT_PACKET, PUBACK, PUBLISH, Closed, RawClient, puback_packet, publish_packet

ADMIN = {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}
MQTT = {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]}


def counters(broker) -> tuple[float, float]:
    """(socket writes, packets out) from /metrics."""
    text = broker.metrics()
    values = []
    for name in ("portcullis_socket_writes_total", "portcullis_packets_out_total"):
        m = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert m, f"{name} missing from /metrics"
        values.append(float(m.group(1)))
    return values[0], values[1]


def test_a_burst_of_qos1_publishes_is_acknowledged_in_one_write(broker_factory):
    b = broker_factory({"limits": {"rate": {"enabled": False}}, "listeners": [MQTT, ADMIN]})
    pub = RawClient(b.port())
    try:
        assert pub.connect("coalesce-publisher-01")[0] == 0
        writes0, packets0 = counters(b)
        burst = 32
        pub.send(b"".join(publish_packet("co/burst", b"m%d" % i, qos=1, packet_id=i + 1) for i in range(burst)))
        ids = [pub.expect(PUBACK).packet_id for _ in range(burst)]
        assert ids == list(range(1, burst + 1))  # in the order of the PUBLISHes [MQTT-4.6.0-2]
        writes1, packets1 = counters(b)
        assert packets1 - packets0 == burst
        # One read carried the burst; its PUBACKs leave together (one each before).
        assert writes1 - writes0 <= 2, f"{writes1 - writes0:.0f} writes for {burst} PUBACKs"
    finally:
        pub.close()


def test_acknowledging_a_whole_window_releases_the_next_messages_in_one_write(broker_factory):
    window = 20
    b = broker_factory({"limits": {"rate": {"enabled": False}, "max_inflight": window, "max_queued_messages": 1000},
                        "listeners": [MQTT, ADMIN]})
    sub, pub = RawClient(b.port()), RawClient(b.port())
    try:
        assert sub.connect("coalesce-subscriber-1")[0] == 0
        assert sub.subscribe([("co/window", 1)]) == [1]
        assert pub.connect("coalesce-publisher-02")[0] == 0
        total = 3 * window
        pub.send(b"".join(publish_packet("co/window", b"w%d" % i, qos=1, packet_id=i + 1) for i in range(total)))
        for _ in range(total):
            pub.expect(PUBACK)
        first = [sub.expect(PUBLISH) for _ in range(window)]  # the in-flight window is full now
        assert [p.payload for p in first] == [b"w%d" % i for i in range(window)]
        writes0, packets0 = counters(b)
        sub.send(b"".join(puback_packet(p.packet_id) for p in first))
        second = [sub.expect(PUBLISH) for _ in range(window)]
        assert [p.payload for p in second] == [b"w%d" % i for i in range(window, 2 * window)]
        writes1, packets1 = counters(b)
        assert packets1 - packets0 == window
        assert writes1 - writes0 <= 2, f"{writes1 - writes0:.0f} writes for {window} PUBLISHes"
    finally:
        sub.close()
        pub.close()


# A DISCONNECT, or a packet of reserved type 0 (a protocol error), after a QoS 1 PUBLISH in
# the same write: the PUBACK still arrives, then the connection closes.
@pytest.mark.parametrize("trailer", [DISCONNECT_PACKET, b"\x00\x00"], ids=["disconnect", "malformed"])
def test_puback_is_not_lost_when_the_same_read_ends_with_a_closing_packet(broker_factory, trailer):
    b = broker_factory({"listeners": [MQTT, ADMIN]})
    c = RawClient(b.port())
    try:
        assert c.connect("coalesce-closing-01")[0] == 0
        c.send(publish_packet("co/last", b"bye", qos=1, packet_id=7) + trailer)
        assert c.expect(PUBACK).packet_id == 7
        try:
            extra = c.read_packet(timeout=5)
        except Closed:
            extra = None
        assert extra is None, f"expected the connection to close, got packet type {extra.type}"
    finally:
        c.close()
