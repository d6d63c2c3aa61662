"""Persistent and clean sessions (SPEC §6): offline queueing of QoS 1, session-present flag,
takeover, redelivery with DUP, and persistence across a restart and a crash."""

import pytest

from mqtt_helpers import (PINGREQ_PACKET, PINGRESP, PUBLISH, RawClient, connected_client, disconnect_and_wait,
                          puback_packet, raw_connected, raw_disconnect_and_wait)


@pytest.fixture(scope="module")
def shared(module_broker_factory):
    return module_broker_factory()


def test_qos1_messages_are_queued_for_an_offline_persistent_session(shared):
    port, cid = shared.port(), "persist-q1-client"
    sub = connected_client(port, cid, clean_session=False, expect_present=False)
    assert sub.subscribe([("sess/q1", 1)]) == [1]
    disconnect_and_wait(shared, sub, cid)
    pub = connected_client(port)
    try:
        for i in range(5):
            pub.publish("sess/q1", f"m{i}".encode(), qos=1)
        back = connected_client(port, cid, clean_session=False, expect_present=True)
        try:
            got = back.expect(5)
            assert [m.payload for m in got] == [f"m{i}".encode() for i in range(5)]
            assert all(m.qos == 1 for m in got)
            # The subscription itself survived: new messages arrive without re-subscribing.
            pub.publish("sess/q1", b"live", qos=1)
            assert back.expect(1)[0].payload == b"live"
        finally:
            back.close()
    finally:
        pub.close()


def test_qos0_messages_are_not_queued_offline(shared):
    port, cid = shared.port(), "persist-q0-client"
    sub = connected_client(port, cid, clean_session=False)
    assert sub.subscribe([("sess/q0", 0), ("sess/q0b", 1)]) == [0, 1]
    disconnect_and_wait(shared, sub, cid)
    pub = connected_client(port)
    try:
        pub.publish("sess/q0", b"q0-to-q0sub", qos=0)
        pub.publish("sess/q0", b"q1-to-q0sub", qos=1)   # delivered at QoS 0: not queued either
        pub.publish("sess/q0b", b"q0-to-q1sub", qos=0)  # QoS 0 message: not queued
        pub.publish("sess/q0b", b"queued", qos=1)
        back = connected_client(port, cid, clean_session=False, expect_present=True)
        try:
            pub.publish("sess/q0b", b"marker", qos=1)
            got = back.collect_until(lambda m: m.payload == b"marker")
            assert [m.payload for m in got] == [b"queued", b"marker"]
        finally:
            back.close()
    finally:
        pub.close()


def test_clean_session_discards_the_old_session(shared):
    port, cid = shared.port(), "clean-discard-client"
    sub = connected_client(port, cid, clean_session=False, expect_present=False)
    assert sub.subscribe([("sess/clean", 1)]) == [1]
    disconnect_and_wait(shared, sub, cid)
    pub = connected_client(port)
    try:
        pub.publish("sess/clean", b"queued-before-clean", qos=1)
        clean = connected_client(port, cid, clean_session=True, expect_present=False)
        try:
            assert clean.subscribe([("sess/other", 1)]) == [1]
            pub.publish("sess/clean", b"to-old-subscription", qos=1)
            pub.publish("sess/other", b"marker", qos=1)
            got = clean.collect_until(lambda m: m.payload == b"marker")
            assert [m.payload for m in got] == [b"marker"]
        finally:
            disconnect_and_wait(shared, clean, cid)
        # The clean session ended with the connection: nothing persists for a later CleanSession=0.
        again = connected_client(port, cid, clean_session=False, expect_present=False)
        again.close()
    finally:
        pub.close()


def test_clean_session_client_gets_session_present_zero_every_time(shared):
    port, cid = shared.port(), "always-clean-client"
    for _ in range(2):
        c = connected_client(port, cid, clean_session=True, expect_present=False)
        assert c.subscribe("sess/x") == [1]
        disconnect_and_wait(shared, c, cid)


def test_session_takeover_closes_the_first_connection(shared):
    port, cid = shared.port(), "takeover-client-01"
    first = connected_client(port, cid)
    second = None
    try:
        assert first.subscribe("take/one") == [1]
        second = connected_client(port, cid)
        assert first.wait_disconnected(5), "first connection still open after takeover"
        pub = connected_client(port)
        try:
            assert second.subscribe("take/two") == [1]
            pub.publish("take/two", b"to-second", qos=1)
            assert second.expect(1)[0].payload == b"to-second"
            assert not second.disconnected.is_set()
        finally:
            pub.close()
    finally:
        first.close()
        if second:
            second.close()


def test_takeover_of_persistent_session_keeps_subscriptions(shared):
    port, cid = shared.port(), "takeover-persist-01"
    first = connected_client(port, cid, clean_session=False, expect_present=False)
    second = None
    pub = connected_client(port)
    try:
        assert first.subscribe("take/persist") == [1]
        second = connected_client(port, cid, clean_session=False, expect_present=True)
        assert first.wait_disconnected(5)
        pub.publish("take/persist", b"x", qos=1)
        assert second.expect(1)[0].payload == b"x"
        assert first.messages.empty()
    finally:
        pub.close()
        first.close()
        if second:
            second.close()
        # Clean up the persistent session so it does not linger in the shared broker.
        connected_client(port, cid, clean_session=True).close()


def test_raw_takeover_closes_first_socket(shared):
    port = shared.port()
    a = raw_connected(port, "raw-takeover-0001")
    b = raw_connected(port, "raw-takeover-0001")
    try:
        assert a.wait_closed(5)
        b.send(b"\xc0\x00")
        assert b.read_packet(3).type == 13
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("abrupt", [False, True], ids=["disconnect", "abort"])
def test_unacknowledged_qos1_is_redelivered_with_dup(shared, abrupt):
    port = shared.port()
    cid = f"dup-redeliver-{'abort' if abrupt else 'disc'}"
    topic = f"sess/dup/{int(abrupt)}"
    sub = raw_connected(port, cid, clean=False)
    pub = connected_client(port)
    try:
        assert sub.subscribe([(topic, 1)]) == [1]
        pub.publish(topic, b"needs-ack", qos=1)
        first = sub.expect(PUBLISH)
        assert (first.payload, first.qos, first.dup) == (b"needs-ack", 1, False)
        raw_disconnect_and_wait(shared, sub, cid, abrupt=abrupt)  # no PUBACK sent

        again = RawClient(port)
        rc, present = again.connect(cid, clean=False)
        assert (rc, present) == (0, True)
        redelivered = again.expect(PUBLISH)
        assert (redelivered.topic, redelivered.payload, redelivered.qos) == (topic, b"needs-ack", 1)
        assert redelivered.dup, "redelivered PUBLISH lacks the DUP flag"
        assert redelivered.packet_id == first.packet_id
        again.send(puback_packet(redelivered.packet_id))
        raw_disconnect_and_wait(shared, again, cid)

        # Acknowledged now: a further reconnect gets nothing.
        third = RawClient(port)
        assert third.connect(cid, clean=False) == (0, True)
        try:
            p = third.read_packet(0.5)
            pytest.fail(f"acknowledged message delivered again: type {p.type} {p.body!r}")
        except TimeoutError:
            pass
        third.close()
    finally:
        pub.close()
        sub.close()
        connected_client(port, cid, clean_session=True).close()


def test_persistent_session_survives_graceful_restart(broker):
    cid = "restart-graceful-01"
    sub = connected_client(broker.port(), cid, clean_session=False)
    assert sub.subscribe("sess/restart") == [1]
    disconnect_and_wait(broker, sub, cid)
    pub = connected_client(broker.port())
    for i in range(3):
        pub.publish("sess/restart", f"r{i}".encode(), qos=1)
    pub.close()

    broker.restart()
    back = connected_client(broker.port(), cid, clean_session=False, expect_present=True)
    try:
        assert [m.payload for m in back.expect(3)] == [b"r0", b"r1", b"r2"]
        pub = connected_client(broker.port())
        pub.publish("sess/restart", b"after", qos=1)
        assert back.expect(1)[0].payload == b"after"
        pub.close()
    finally:
        back.close()


def test_acknowledged_qos1_survives_a_crash(broker):
    cid = "restart-crash-0001"
    sub = connected_client(broker.port(), cid, clean_session=False)
    assert sub.subscribe("sess/crash") == [1]
    disconnect_and_wait(broker, sub, cid)
    pub = connected_client(broker.port())
    for i in range(3):
        pub.publish("sess/crash", f"c{i}".encode(), qos=1)  # each returns after its PUBACK
    broker.kill()
    pub.close()

    broker.start()
    back = connected_client(broker.port(), cid, clean_session=False, expect_present=True)
    try:
        assert [m.payload for m in back.expect(3)] == [b"c0", b"c1", b"c2"]
    finally:
        back.close()


def test_acknowledged_messages_are_not_redelivered_after_a_restart(broker):
    # The subscriber acknowledges six of ten in-flight messages in one write (the broker
    # removes their queue entries together, at the end of that read); after a graceful
    # restart exactly the four unacknowledged ones come back, with DUP.
    cid = "restart-acked-00001"
    sub = RawClient(broker.port())
    assert sub.connect(cid, clean=False)[0] == 0
    assert sub.subscribe([("sess/acked", 1)]) == [1]
    pub = connected_client(broker.port())
    for i in range(10):
        pub.publish("sess/acked", f"a{i}".encode(), qos=1)
    pub.close()
    got = [sub.expect(PUBLISH) for _ in range(10)]
    assert [p.payload for p in got] == [f"a{i}".encode() for i in range(10)]
    sub.send(b"".join(puback_packet(p.packet_id) for p in got[:6]) + PINGREQ_PACKET)
    sub.expect(PINGRESP)  # the PUBACKs before it are handled
    sub.close()

    broker.restart()
    back = RawClient(broker.port())
    try:
        code, present = back.connect(cid, clean=False)
        assert (code, present) == (0, True)
        again = [back.expect(PUBLISH) for _ in range(4)]
        assert [p.payload for p in again] == [f"a{i}".encode() for i in range(6, 10)]
        assert all(p.dup for p in again)
        with pytest.raises(TimeoutError):
            back.read_packet(timeout=1.0)  # nothing acknowledged comes back
    finally:
        back.close()
