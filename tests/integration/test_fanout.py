"""Many clients at once: one publisher fans out to many subscribers, and many publishers
converge on one subscriber. Nothing is lost and each stream stays in order."""

import threading

from mqtt_helpers import connected_client


def test_fifty_subscribers_each_receive_all_hundred_messages(broker):
    port = broker.port()
    subs = [connected_client(port, client_id=f"fan-sub-{i:02d}") for i in range(50)]
    pub = connected_client(port, client_id="fan-publisher")
    try:
        for s in subs:
            assert s.subscribe("fan/out") == [1]
        infos = [pub.publish("fan/out", str(i).encode(), qos=1, wait=False) for i in range(100)]
        for info in infos:
            info.wait_for_publish(20)
            assert info.is_published()
        for i, s in enumerate(subs):
            got = s.expect(100, timeout=20)
            assert [int(m.payload) for m in got] == list(range(100)), f"subscriber {i} out of order"
        assert all(s.drain(0.05) == [] for s in subs), "some subscriber got duplicates"
    finally:
        for c in subs + [pub]:
            c.close()


def test_twenty_publishers_converge_on_one_subscriber(broker):
    port = broker.port()
    sub = connected_client(port, client_id="fan-in-sub")
    pubs = [connected_client(port, client_id=f"fan-in-pub-{i:02d}") for i in range(20)]
    try:
        assert sub.subscribe("fanin/+") == [1]

        def run(i, c):
            for k in range(25):
                c.publish(f"fanin/p{i}", f"{i}:{k}".encode(), qos=1, wait=False)

        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(pubs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = sub.expect(500, timeout=20)
        per_pub: dict = {}
        for m in got:
            i, k = m.payload.decode().split(":")
            assert m.topic == f"fanin/p{i}"
            per_pub.setdefault(int(i), []).append(int(k))
        # Order is kept per publisher (MQTT 3.1.1 §4.6), not across publishers.
        assert per_pub == {i: list(range(25)) for i in range(20)}
    finally:
        for c in pubs + [sub]:
            c.close()
