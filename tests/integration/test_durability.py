"""Durable sessions under crashes (SPEC §6): a QoS 1 message acknowledged to its
publisher is never lost for a persistent subscriber. The daemon is killed with
SIGKILL while publishers are sending QoS 1, ten times in a row; after each
restart the persistent subscribers must receive every message whose PUBACK a
publisher saw (duplicates allowed, loss not). The per-session queue cap is
raised so that it cannot drop anything here."""

import threading
import time

import paho.mqtt.client as mqtt

from mqtt_helpers import PahoClient

ROUNDS = 10
SUBSCRIBERS = ("durable-sub-000001", "durable-sub-000002")


class AckingPublisher:
    """Publishes QoS 1 as fast as the in-flight window allows; records what was acknowledged."""

    def __init__(self, port: int, client_id: str, prefix: str):
        self._sent: list = []  # (MQTTMessageInfo, payload), in publish order
        self._stop = threading.Event()
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        self.client.max_inflight_messages_set(20)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        self._prefix = prefix
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self._stop.is_set():
            payload = f"{self._prefix}-{i}"
            info = self.client.publish("durable/t", payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            self._sent.append((info, payload))
            i += 1
            if i % 20 == 0:
                time.sleep(0.002)

    def stop(self) -> set:
        """Stops publishing; returns the payloads whose PUBACK arrived."""
        self._stop.set()
        self.thread.join(5)
        self.client.loop_stop()
        return {payload for info, payload in self._sent if info.is_published()}


def test_acknowledged_qos1_survives_ten_kill9_in_a_row(broker_factory):
    # The queue cap (oldest dropped, counted) is a separate, documented rule;
    # raise it so that only durability is under test.
    broker = broker_factory({"limits": {"max_queued_messages": 1000000}})
    # Persistent subscribers exist first, then go offline (one stays online in
    # odd rounds, so both the offline queue and the in-flight path are crashed).
    for cid in SUBSCRIBERS:
        sub = PahoClient(broker.port(), cid, clean_session=False)
        assert sub.connect()[0] == 0
        assert sub.subscribe([("durable/t", 1)]) == [1]
        sub.close()

    pending = {cid: set() for cid in SUBSCRIBERS}
    for rnd in range(ROUNDS):
        online = None
        if rnd % 2:
            online = PahoClient(broker.port(), SUBSCRIBERS[0], clean_session=False)
            assert online.connect()[0] == 0
        pubs = [AckingPublisher(broker.port(), f"durable-pub-{rnd}-{k}", f"r{rnd}p{k}") for k in range(2)]
        time.sleep(0.4 + 0.1 * (rnd % 3))
        broker.kill()  # mid-stream: publishers still sending
        acked = set()
        for p in pubs:
            acked |= p.stop()
        received_online = set()
        if online is not None:
            received_online = {m.payload.decode() for m in online.drain(quiet=0.05)}
            online.close()
        assert acked, f"round {rnd}: no PUBACK seen before the crash"
        for cid in SUBSCRIBERS:
            # What the online subscriber already got (and acknowledged) need not
            # come again; everything else that was acknowledged must.
            pending[cid] |= acked - (received_online if online is not None and cid == SUBSCRIBERS[0] else set())
        broker.start()
        # Every acknowledged message must come back to every persistent subscriber.
        for cid in SUBSCRIBERS:
            sub = PahoClient(broker.port(), cid, clean_session=False)
            rc, present = sub.connect()
            assert rc == 0 and present, f"round {rnd}: {cid} lost its session"
            got = set()
            deadline = time.monotonic() + 10
            while not pending[cid] <= got and time.monotonic() < deadline:
                for m in sub.drain(quiet=0.2):
                    got.add(m.payload.decode())
            missing = pending[cid] - got
            assert not missing, f"round {rnd}: {cid} never received {len(missing)} acknowledged message(s), e.g. {sorted(missing)[:5]}"
            pending[cid] = set()
            sub.close()


def test_a_subscription_change_acknowledged_before_a_kill9_survives_it(broker_factory):
    """SUBACK and UNSUBACK promise a persistent session's subscriptions: the broker sends them
    only once the change is committed. SIGKILL right after each (five rounds) and restart: the
    subscription is there (an acknowledged QoS 1 message reaches the session), the removed one
    is gone (no message for it)."""
    from mqtt_helpers import (RawClient, SUBACK, UNSUBACK, PUBLISH, connected_client, subscribe_packet,
                              unsubscribe_packet)
    broker = broker_factory()
    for r in range(5):
        cid = f"crash-sub-{r:02d}-00000001"
        c = RawClient(broker.port())
        assert c.connect(cid, clean=False) == (0, False)
        c.send(subscribe_packet(1, [(f"keep/{r}", 1), (f"drop/{r}", 1)]))
        assert c.expect(SUBACK).body[2:] == b"\x01\x01"
        c.send(unsubscribe_packet(2, [f"drop/{r}"]))
        c.expect(UNSUBACK)
        broker.kill()  # at once: the acks above are the only promise
        c.close()
        broker.start()
        pub = connected_client(broker.port(), f"crash-pub-{r:02d}-0000001")
        pub.publish(f"drop/{r}", b"unsubscribed", qos=1)
        pub.publish(f"keep/{r}", b"subscribed", qos=1)  # PUBACKed: durable for the session
        pub.close()
        c = RawClient(broker.port())
        assert c.connect(cid, clean=False) == (0, True), f"round {r}: session lost"
        p = c.expect(PUBLISH)
        topic_len = int.from_bytes(p.body[:2], "big")
        assert p.body[2:2 + topic_len] == f"keep/{r}".encode(), f"round {r}: {p.body!r}"
        assert p.body.endswith(b"subscribed") and not p.body.endswith(b"unsubscribed")
        try:
            extra = c.read_packet(0.5)
            raise AssertionError(f"round {r}: unexpected packet type {extra.type}: {extra.body!r}")
        except TimeoutError:
            pass
        c.close()


def _publish_fields(p):
    """(topic, packet id, payload, dup) of a QoS 1 PUBLISH read by RawClient."""
    n = int.from_bytes(p.body[:2], "big")
    topic = p.body[2:2 + n].decode()
    pid = int.from_bytes(p.body[2 + n:4 + n], "big")
    return topic, pid, p.body[4 + n:], bool(p.flags & 0x08)


def _subscribed(broker, cid: str, topic: str):
    """A raw persistent (CleanSession=0) subscriber of `topic` at QoS 1."""
    from mqtt_helpers import RawClient
    sub = RawClient(broker.port())
    assert sub.connect(cid, clean=False)[0] == 0
    sub.subscribe([(topic, 1)])
    return sub


def _stop_and_start(broker, how: str):
    """A clean restart (SIGTERM) or a crash (SIGKILL) and a start on the same data dir."""
    if how == "sigterm":
        broker.restart()
    else:
        broker.kill()
        broker.start()


def _resumed(broker, cid: str, n: int):
    """Reconnects `cid` with CleanSession=0 (session present) and reads `n` PUBLISHes."""
    from mqtt_helpers import PUBLISH, RawClient
    again = RawClient(broker.port())
    assert again.connect(cid, clean=False) == (0, True)
    return again, [_publish_fields(again.expect(PUBLISH)) for _ in range(n)]


def _acknowledge_and_leave(broker, client, cid: str, got):
    from mqtt_helpers import puback_packet, raw_disconnect_and_wait
    for _, pid, _, _ in got:
        client.send(puback_packet(pid))
    raw_disconnect_and_wait(broker, client, cid)


def test_unacknowledged_messages_keep_their_packet_ids_across_a_restart(broker_factory):
    """MQTT-4.4.0-1: on reconnect with CleanSession=0 the unacknowledged PUBLISHes are re-sent
    with their original packet ids, also after the broker was stopped (SIGTERM) or killed."""
    from mqtt_helpers import PUBLISH, connected_client, puback_packet, raw_disconnect_and_wait
    broker = broker_factory()
    for how in ("sigterm", "sigkill"):
        cid = f"pid-keeper-{how}-0001"
        topic = f"pid/{how}"
        sub = _subscribed(broker, cid, topic)
        pub = connected_client(broker.port(), f"pid-pub-{how}-00001")
        for i in range(5):  # acknowledged: the broker's id counter moves on
            pub.publish(topic, f"warm-{i}".encode(), qos=1)
            _, pid, _, _ = _publish_fields(sub.expect(PUBLISH))
            sub.send(puback_packet(pid))
        for i in range(3):
            pub.publish(topic, f"open-{i}".encode(), qos=1)
        pub.close()
        first = [_publish_fields(sub.expect(PUBLISH)) for _ in range(3)]  # not acknowledged
        raw_disconnect_and_wait(broker, sub, cid, abrupt=True)
        _stop_and_start(broker, how)
        again, resent = _resumed(broker, cid, 3)
        assert [(t, pid, payload) for t, pid, payload, _ in resent] == \
            [(t, pid, payload) for t, pid, payload, _ in first], (how, first, resent)
        assert all(dup for *_, dup in resent), resent
        _acknowledge_and_leave(broker, again, cid, resent)


def test_dup_only_where_a_message_may_have_been_sent_before_a_restart(broker_factory):
    """MQTT 3.1.1 §3.3.1.1: DUP=0 is the first attempt to send a PUBLISH. After a clean stop
    (SIGTERM) the broker knows which queued messages it had sent: the one the subscriber got but
    did not acknowledge comes back with DUP=1, the ones queued while it was offline arrive with
    DUP=0. After a kill -9 it cannot know: all with DUP=1."""
    from mqtt_helpers import PUBLISH, connected_client, raw_disconnect_and_wait
    broker = broker_factory()
    for how in ("sigterm", "sigkill"):
        cid = f"dup-first-{how}-0001"
        topic = f"dup/{how}"
        sub = _subscribed(broker, cid, topic)
        pub = connected_client(broker.port(), f"dup-pub-{how}-00001")
        pub.publish(topic, b"seen", qos=1)
        _publish_fields(sub.expect(PUBLISH))  # sent, not acknowledged
        raw_disconnect_and_wait(broker, sub, cid, abrupt=True)
        for i in range(3):  # acknowledged to the publisher while the subscriber is away: never sent
            pub.publish(topic, f"queued-{i}".encode(), qos=1)
        pub.close()
        _stop_and_start(broker, how)
        again, got = _resumed(broker, cid, 4)
        assert [payload for _, _, payload, _ in got] == [b"seen", b"queued-0", b"queued-1", b"queued-2"], got
        dups = [dup for *_, dup in got]
        assert dups == ([True, False, False, False] if how == "sigterm" else [True] * 4), (how, got)
        _acknowledge_and_leave(broker, again, cid, got)
