"""Session limits (SPEC §3 limits, §6): session and message expiry, the offline queue cap and
the in-flight window."""

import time

import pytest

from mqtt_helpers import PUBLISH, connected_client, disconnect_and_wait, puback_packet, raw_connected


def offline_subscriber(broker, cid, topic):
    sub = connected_client(broker.port(), cid, clean_session=False, expect_present=False)
    assert sub.subscribe(topic) == [1]
    disconnect_and_wait(broker, sub, cid)


def test_session_expires_after_session_expiry_seconds(broker_factory):
    broker = broker_factory({"limits": {"session_expiry_seconds": 2}})
    port = broker.port()
    offline_subscriber(broker, "expiring-session-a", "exp/s")
    offline_subscriber(broker, "expiring-session-b", "exp/s")
    expired_at = time.monotonic() + 2
    pub = connected_client(port)
    try:
        pub.publish("exp/s", b"queued", qos=1)
        # Before expiry the session is still there, with its message.
        b = connected_client(port, "expiring-session-b", clean_session=False, expect_present=True)
        assert b.expect(1)[0].payload == b"queued"
        b.close()

        # Expired to the millisecond when it is resumed, whether or not the 1 s sweep ran yet.
        time.sleep(max(0.0, expired_at - time.monotonic()) + 0.3)
        a = connected_client(port, "expiring-session-a", clean_session=False, expect_present=False)
        try:
            assert a.drain(0.5) == [], "messages of an expired session were delivered"
            # Its subscription is gone too.
            pub.publish("exp/s", b"after-expiry", qos=1)
            assert a.drain(0.5) == []
        finally:
            a.close()
    finally:
        pub.close()


def test_queued_message_expires_after_message_expiry_seconds(broker_factory):
    broker = broker_factory({"limits": {"message_expiry_seconds": 2}})
    port = broker.port()
    offline_subscriber(broker, "msg-expiry-client", "exp/m")
    pub = connected_client(port)
    try:
        pub.publish("exp/m", b"old", qos=1)
        # The behaviour under test is the passage of time, not synchronisation. Expiry is to the
        # millisecond when the message is collected, not at the next 1 s sweep.
        time.sleep(2.3)
        pub.publish("exp/m", b"fresh", qos=1)
        back = connected_client(port, "msg-expiry-client", clean_session=False, expect_present=True)
        try:
            pub.publish("exp/m", b"marker", qos=1)
            got = back.collect_until(lambda m: m.payload == b"marker")
            assert [m.payload for m in got] == [b"fresh", b"marker"]
        finally:
            back.close()
    finally:
        pub.close()


def test_offline_queue_keeps_only_the_newest_max_queued_messages(broker_factory):
    broker = broker_factory({"limits": {"max_queued_messages": 5}})
    port = broker.port()
    offline_subscriber(broker, "queue-cap-client", "cap/q")
    pub = connected_client(port)
    try:
        for i in range(10):
            pub.publish("cap/q", str(i).encode(), qos=1)
        back = connected_client(port, "queue-cap-client", clean_session=False, expect_present=True)
        try:
            pub.publish("cap/q", b"marker", qos=1)
            got = back.collect_until(lambda m: m.payload == b"marker")
            assert [m.payload for m in got] == [b"5", b"6", b"7", b"8", b"9", b"marker"]
        finally:
            back.close()
    finally:
        pub.close()


def test_inflight_window_limits_unacknowledged_publishes(broker_factory):
    broker = broker_factory({"limits": {"max_inflight": 2}})
    port = broker.port()
    sub = raw_connected(port, "inflight-window-01")
    pub = connected_client(port)
    try:
        assert sub.subscribe([("win/t", 1)]) == [1]
        for i in range(5):
            pub.publish("win/t", str(i).encode(), qos=1)  # the broker acks the publisher regardless

        first = [sub.expect(PUBLISH), sub.expect(PUBLISH)]
        assert [p.payload for p in first] == [b"0", b"1"]
        with pytest.raises(TimeoutError):
            p = sub.read_packet(0.7)
            pytest.fail(f"third PUBLISH {p.payload!r} arrived with 2 unacknowledged in flight")

        sub.send(puback_packet(first[0].packet_id))
        third = sub.expect(PUBLISH)
        assert third.payload == b"2"
        with pytest.raises(TimeoutError):
            sub.read_packet(0.5)

        for p in (first[1], third):
            sub.send(puback_packet(p.packet_id))
        rest = [sub.expect(PUBLISH), sub.expect(PUBLISH)]
        assert [p.payload for p in rest] == [b"3", b"4"]
        assert len({p.packet_id for p in first + [third] + rest} - {0}) >= 3
    finally:
        sub.close()
        pub.close()


def test_qos0_is_not_held_back_by_a_full_inflight_window(broker_factory):
    broker = broker_factory({"limits": {"max_inflight": 1}})
    port = broker.port()
    sub = raw_connected(port, "inflight-qos0-001")
    pub = connected_client(port)
    try:
        assert sub.subscribe([("win/q1", 1), ("win/q0", 0)]) == [1, 0]
        pub.publish("win/q1", b"unacked", qos=1)
        assert sub.expect(PUBLISH).payload == b"unacked"
        pub.publish("win/q0", b"qos0", qos=0)
        p = sub.expect(PUBLISH, timeout=3)
        assert (p.payload, p.qos) == (b"qos0", 0)
    finally:
        sub.close()
        pub.close()


def test_a_session_is_not_expired_early_whatever_the_second_it_disconnected_in(broker_factory):
    """Expiry counts from the disconnect to the millisecond: a session that disconnects late in
    a wall-clock second (x.9 s) is still there 2.8 s later with a 3 s expiry, and gone after
    it. (Counted in whole seconds it went at x+3.0 s, 2.1 s after the disconnect.)"""
    from mqtt_helpers import raw_disconnect_and_wait
    broker = broker_factory({"limits": {"session_expiry_seconds": 3}})
    port = broker.port()
    from mqtt_helpers import RawClient
    ids = ("early-expiry-check-a", "early-expiry-check-b")
    raws = []
    for cid in ids:
        c = raw_connected(port, cid, clean=False)
        c.subscribe([("early/x", 1)])
        raws.append(c)
    while time.time() % 1.0 < 0.85:  # late in a second
        time.sleep(0.01)
    t0 = time.monotonic()
    for cid, raw in zip(ids, raws):
        raw_disconnect_and_wait(broker, raw, cid)

    def present(cid):
        c = RawClient(port)
        rc, session_present = c.connect(cid, clean=False)
        assert rc == 0
        c.close()
        return session_present

    time.sleep(max(0.0, t0 + 2.8 - time.monotonic()))
    assert present(ids[0]), "the session expired before session_expiry_seconds"
    time.sleep(max(0.0, t0 + 3.0 + 0.3 - time.monotonic()))  # resumed after expiry: not present, swept or not
    assert not present(ids[1]), "the session outlived session_expiry_seconds"
