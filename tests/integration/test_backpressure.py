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
    received = []

    def reader():
        deadline = time.monotonic() + 60
        while len(received) < total and time.monotonic() < deadline:
            try:
                p = sub.read_packet(timeout=3)
            except TimeoutError:
                return
            if p.type == 3:
                received.append(int(p.payload))

    t = threading.Thread(target=reader)
    t.start()
    pub = RawClient(b.port())
    assert pub.connect("q0-pace-publisher")[0] == 0
    # Well after the SUBACK (nothing recent to go by), one write of all 5000 PUBLISHes:
    # the broker reads them as fast as it can.
    time.sleep(0.2)
    pub.send(b"".join(publish_packet("q0pace/t", b"%d" % i) for i in range(total)))
    t.join(70)

    assert received == list(range(total)), f"{total - len(received)} of {total} QoS 0 messages lost"
    drops = re.search(r'portcullis_dropped_messages_total\{reason="queue_full"\} (\d+)', b.metrics())
    assert drops and int(drops.group(1)) == 0
    assert metric(b, "portcullis_backpressure_pauses_total") > 0
