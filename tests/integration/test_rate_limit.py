"""Per-client rate limit (SPEC §6): a token bucket of `burst` tokens refilled at `messages`
per `per_seconds`; `throttle` delays without losing anything and without holding keep-alive
against the client, `disconnect` closes the client that exceeds it."""

import time

from mqtt_helpers import PUBACK, connected_client, publish_packet, raw_connected


def rate(**kw):
    return {"limits": {"rate": {"messages": 1, "per_seconds": 1, "burst": 2, **kw}}}


def test_throttle_delays_but_loses_nothing(broker_factory):
    broker = broker_factory(rate(action="throttle"))
    port = broker.port()
    sub = connected_client(port, "throttle-sub-0001")
    pub = raw_connected(port, "throttle-pub-0001")
    try:
        assert sub.subscribe("rl/t") == [1]
        t0 = time.monotonic()
        pub.send(b"".join(publish_packet("rl/t", str(i).encode(), qos=1, packet_id=i + 1) for i in range(6)))
        got = sub.expect(6, timeout=12)
        assert [m.payload for m in got] == [str(i).encode() for i in range(6)]
        spread = got[-1].at - t0
        # burst 2 immediately, then one per second: the 6th is due after ~4 s.
        assert spread >= 2.8, f"6 messages with burst 2 at 1/s all arrived within {spread:.2f} s"
        acks = sorted(pub.expect(PUBACK).packet_id for _ in range(6))
        assert acks == [1, 2, 3, 4, 5, 6]
    finally:
        sub.close()
        pub.close()


def test_throttled_client_is_not_closed_by_keepalive(broker_factory):
    # One token per 2 s against a keep-alive of 1 s (deadline 1.5 s): while the broker is not
    # reading, the client's silence is the broker's doing and must not count against it.
    broker = broker_factory({"limits": {"rate": {"messages": 1, "per_seconds": 2, "burst": 1,
                                                 "action": "throttle"}}})
    port = broker.port()
    sub = connected_client(port, "throttle-ka-sub-01")
    pub = raw_connected(port, "throttle-ka-pub-01", keepalive=1)
    try:
        assert sub.subscribe("rl/ka") == [1]
        pub.send(b"".join(publish_packet("rl/ka", str(i).encode(), qos=1, packet_id=i + 1) for i in range(4)))
        acks = [pub.expect(PUBACK, timeout=5).packet_id for _ in range(4)]
        assert acks == [1, 2, 3, 4]
        assert [m.payload for m in sub.expect(4, timeout=5)] == [b"0", b"1", b"2", b"3"]
    finally:
        sub.close()
        pub.close()


def test_throttle_affects_only_the_fast_client(broker_factory):
    broker = broker_factory(rate(action="throttle"))
    port = broker.port()
    sub = connected_client(port, "throttle-iso-sub-1")
    fast = raw_connected(port, "throttle-fast-0001")
    calm = connected_client(port, "throttle-calm-0001")
    try:
        assert sub.subscribe("rl/iso/+") == [1]
        fast.send(b"".join(publish_packet("rl/iso/fast", b"f", qos=1, packet_id=i + 1) for i in range(8)))
        time.sleep(0.3)  # let the fast client drain its burst first
        t0 = time.monotonic()
        calm.publish("rl/iso/calm", b"calm", qos=1, timeout=2)
        assert time.monotonic() - t0 < 1.0, "a client within its budget was slowed by another's throttle"
        got = sub.collect_until(lambda m: m.payload == b"calm", timeout=3)
        assert len(got) < 9, "the fast client was not throttled at all"
    finally:
        sub.close()
        fast.close()
        calm.close()


def test_disconnect_action_closes_the_client_exceeding_the_burst(broker_factory):
    broker = broker_factory(rate(action="disconnect"))
    port = broker.port()
    sub = connected_client(port, "rl-disc-sub-00001")
    ok = raw_connected(port, "rl-disc-within-001")
    bad = raw_connected(port, "rl-disc-flooder-01")
    try:
        assert sub.subscribe("rl/d/+") == [1]
        # Within the burst: served, stays connected.
        ok.send(publish_packet("rl/d/ok", b"a", qos=1, packet_id=1) + publish_packet("rl/d/ok", b"b", qos=1, packet_id=2))
        assert [ok.expect(PUBACK).packet_id for _ in range(2)] == [1, 2]
        assert not ok.wait_closed(0.3)
        # Beyond it: closed.
        bad.try_send(b"".join(publish_packet("rl/d/bad", str(i).encode(), qos=1, packet_id=i + 1)
                              for i in range(6)))
        assert bad.wait_closed(3), "a client exceeding the burst with action=disconnect stayed connected"
        got = sub.drain(0.5)
        bad_msgs = [m for m in got if m.topic == "rl/d/bad"]
        assert len(bad_msgs) <= 3, f"{len(bad_msgs)} messages got through a burst of 2"
    finally:
        sub.close()
        ok.close()
        bad.close()


def test_reconnecting_does_not_refill_the_bucket(broker_factory):
    # The limit is per client (SPEC §6): a client that spent its burst, disconnects and comes
    # straight back has no fresh burst, in either action.
    broker = broker_factory({"limits": {"rate": {"messages": 1, "per_seconds": 5, "burst": 3,
                                                 "action": "disconnect"}}})
    port = broker.port()
    first = raw_connected(port, "rl-reconnect-0001")
    first.send(b"".join(publish_packet("rl/r", str(i).encode(), qos=1, packet_id=i + 1) for i in range(3)))
    assert [first.expect(PUBACK).packet_id for _ in range(3)] == [1, 2, 3]
    first.close()
    again = raw_connected(port, "rl-reconnect-0001")
    other = raw_connected(port, "rl-reconnect-0002")
    try:
        other.send(publish_packet("rl/r", b"o", qos=1, packet_id=1))
        assert other.expect(PUBACK).packet_id == 1  # another client's burst is its own
        again.try_send(publish_packet("rl/r", b"x", qos=1, packet_id=9))
        assert again.wait_closed(3), "a reconnect handed the client a fresh burst"
    finally:
        again.close()
        other.close()


def test_throttled_client_reconnecting_waits_for_its_token(broker_factory):
    broker = broker_factory({"limits": {"rate": {"messages": 1, "per_seconds": 2, "burst": 2,
                                                 "action": "throttle"}}})
    port = broker.port()
    first = raw_connected(port, "rl-throttle-back-01")
    first.send(b"".join(publish_packet("rl/tb", str(i).encode(), qos=1, packet_id=i + 1) for i in range(2)))
    assert [first.expect(PUBACK).packet_id for _ in range(2)] == [1, 2]
    first.close()
    again = raw_connected(port, "rl-throttle-back-01")
    try:
        t0 = time.monotonic()
        again.send(publish_packet("rl/tb", b"x", qos=1, packet_id=3))
        assert again.expect(PUBACK, timeout=5).packet_id == 3
        waited = time.monotonic() - t0
        assert waited >= 1.0, f"the reconnected client's PUBACK came after {waited:.2f} s: a fresh burst"
    finally:
        again.close()
