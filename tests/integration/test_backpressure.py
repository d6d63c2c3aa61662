"""QoS 1 backpressure (issue: "QoS 1 loses nothing"): a publisher that outruns a
slow online subscriber is paused (its socket is not read) instead of the
subscriber's bounded queue dropping messages the publisher already had
acknowledged. The subscriber here acknowledges slowly; with a queue bound of 40
messages, 600 QoS 1 messages must all arrive, in order, with no queue_full drop."""

import re
import threading
import time

from mqtt_helpers import PahoClient, RawClient, puback_packet, publish_packet

ADMIN = {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}


def metric(broker, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", broker.metrics(), re.MULTILINE)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def test_slow_qos1_subscriber_pauses_the_publisher_and_loses_nothing(broker_factory):
    b = broker_factory({
        "limits": {"max_queued_messages": 40, "max_inflight": 10},
        "listeners": [{"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]}, ADMIN],
    })

    sub = RawClient(b.port())
    assert sub.connect("bp-subscriber-0001")[0] == 0
    assert sub.subscribe([("bp/t", 1)]) == [1]

    total = 600
    received = []

    def slow_reader():
        deadline = time.monotonic() + 60
        while len(received) < total and time.monotonic() < deadline:
            p = sub.read_packet(timeout=10)
            if p.type != 3:
                continue
            received.append(int(p.payload))
            time.sleep(0.002)  # slower than the publisher
            sub.send(puback_packet(p.packet_id))

    reader = threading.Thread(target=slow_reader)
    reader.start()

    pub = PahoClient(b.port(), "bp-publisher-0001")
    pub.client.max_inflight_messages_set(100)
    assert pub.connect()[0] == 0
    infos = [pub.publish("bp/t", str(i), qos=1, wait=False) for i in range(total)]
    for info in infos:
        info.wait_for_publish(60)
        assert info.is_published()
    reader.join(70)

    assert received == list(range(total)), "every acknowledged QoS 1 message arrives, in order"
    drops = re.search(r'portcullis_dropped_messages_total\{reason="queue_full"\} (\d+)', b.metrics())
    assert drops and int(drops.group(1)) == 0
    assert metric(b, "portcullis_backpressure_pauses_total") > 0
    pub.close()


def test_qos0_burst_to_a_subscriber_that_keeps_up_is_paced_not_dropped(broker_factory):
    """QoS 0: a publisher bursting far beyond the subscriber's queue bound (50) while the
    subscriber keeps reading is paused instead of the queue dropping most of the burst; a
    stalled subscriber still gets the drop policy (test_slow_consumer)."""
    b = broker_factory({
        "limits": {"max_queued_messages": 50},
        "listeners": [{"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]}, ADMIN],
    })
    sub = RawClient(b.port())
    assert sub.connect("q0-pace-subscriber")[0] == 0
    assert sub.subscribe([("q0pace/t", 0)]) == [0]
    total = 5000
    # 2 KB each, 10 MB in all: more than the loopback socket buffers hold, so the subscriber's
    # queue fills whatever the timing (a build slow enough to route a few messages per turn
    # would otherwise write each straight into a socket with room, and never need a pause).
    pad = b"|" + b"p" * 2048
    received = []

    def reader():
        # Keeps reading, but at most ~32 MB/s (a 2 ms nap every 64 KB): slower than the broker
        # can deliver, so its queue for this subscriber fills whichever worker threads the two
        # clients landed on (on one thread, a reader as fast as the broker would never let the
        # queue reach its bound, and nothing would need pacing); never idle for anything near
        # the 20 ms after which a subscriber counts as stalled (and drops instead).
        deadline = time.monotonic() + 60
        while len(received) < total and time.monotonic() < deadline:
            try:
                p = sub.read_packet(timeout=3)
            except TimeoutError:
                return
            if p.type == 3:
                received.append(int(p.payload.split(b"|")[0]))
                if len(received) % 32 == 0:
                    time.sleep(0.002)

    t = threading.Thread(target=reader)
    t.start()
    pub = RawClient(b.port())
    assert pub.connect("q0-pace-publisher")[0] == 0
    # Well after the SUBACK (nothing recent to go by), one write of all 5000 PUBLISHes:
    # the broker reads them as fast as it can.
    time.sleep(0.2)
    pub.send(b"".join(publish_packet("q0pace/t", b"%d" % i + pad) for i in range(total)))
    t.join(70)

    assert received == list(range(total)), f"{total - len(received)} of {total} QoS 0 messages lost"
    drops = re.search(r'portcullis_dropped_messages_total\{reason="queue_full"\} (\d+)', b.metrics())
    assert drops and int(drops.group(1)) == 0
    assert metric(b, "portcullis_backpressure_pauses_total") > 0


def test_a_subscriber_that_never_acknowledges_does_not_hold_publishers_back(broker_factory):
    # Slow is paced; stuck is not: a QoS 1 subscriber whose window stays full without a PUBACK
    # for 2 s stops pausing publishers (its queue keeps the drop-oldest bound, counted), so a
    # hung device cannot hold every publisher of its topics to a message per pause.
    b = broker_factory({
        "limits": {"max_queued_messages": 40, "max_inflight": 10},
        "listeners": [{"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]}, ADMIN],
    })
    stuck = RawClient(b.port())
    assert stuck.connect("bp-never-acks-0001", keepalive=0)[0] == 0
    assert stuck.subscribe([("bp/stuck/#", 1)]) == [1]
    healthy = PahoClient(b.port(), "bp-healthy-0001")
    healthy.connect()
    assert healthy.subscribe("bp/stuck/#") == [1]
    pub = RawClient(b.port(), timeout=30)
    assert pub.connect("bp-publisher-0002", keepalive=0)[0] == 0
    sent, deadline = 0, time.monotonic() + 6
    while time.monotonic() < deadline:
        pub.send(publish_packet("bp/stuck/t", b"%d" % sent, qos=1, packet_id=sent % 65535 + 1))
        assert pub.expect(4, timeout=10).packet_id == sent % 65535 + 1  # PUBACK
        sent += 1
    # One pause of up to 2 s when its window first fills, then full speed: a few hundred at least
    # (before, one message per 2 s after the first ~30).
    assert sent > 300, f"only {sent} QoS 1 messages in 6 s"
    last = str(sent - 1).encode()
    got = healthy.collect_until(lambda m: m.payload == last, timeout=20)
    assert [int(m.payload) for m in got] == list(range(sent))  # the healthy one misses nothing
    assert metric(b, 'portcullis_dropped_messages_total{reason="queue_full"}') > 0
    for c in (stuck, pub):
        c.close()
    healthy.close()
