"""Connection limits (SPEC §6): keep-alive at 1.5 x, connect timeout, max_connections."""

import os
import resource
import signal
import socket
import time

import pytest

from broker_harness import wait_until
from mqtt_helpers import PINGREQ_PACKET, PINGRESP, RawClient, connect_packet, raw_connected, round_trip


def test_silent_client_is_closed_after_one_and_a_half_keepalives(broker):
    c = raw_connected(broker.port(), "keepalive-silent-1", keepalive=1)
    t0 = time.monotonic()
    try:
        assert c.wait_closed(5), "a silent client with keep-alive 1 s was never closed"
        elapsed = time.monotonic() - t0
        assert 1.2 <= elapsed <= 3.0, f"closed after {elapsed:.2f} s, expected about 1.5 s"
    finally:
        c.close()


def test_client_sending_pingreq_stays_connected(broker):
    c = raw_connected(broker.port(), "keepalive-pinger-1", keepalive=1)
    try:
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            c.send(PINGREQ_PACKET)
            assert c.expect(PINGRESP, timeout=2).type == PINGRESP
            time.sleep(0.5)  # pacing of the client's own keep-alive, not synchronisation
    finally:
        c.close()


def test_keepalive_zero_disables_the_timeout(broker_factory):
    broker = broker_factory({"limits": {"connect_timeout_seconds": 1}})
    c = raw_connected(broker.port(), "keepalive-zero-01", keepalive=0)
    try:
        assert not c.wait_closed(2.5), "keep-alive 0 connection was closed"
        c.send(PINGREQ_PACKET)
        assert c.expect(PINGRESP).type == PINGRESP
    finally:
        c.close()


def test_connection_without_connect_is_closed_after_connect_timeout(broker_factory):
    broker = broker_factory({"limits": {"connect_timeout_seconds": 1}})
    c = RawClient(broker.port())
    t0 = time.monotonic()
    try:
        assert c.wait_closed(5), "a connection that never sent CONNECT stayed open"
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed <= 3.0, f"closed after {elapsed:.2f} s, expected about 1 s"
    finally:
        c.close()


def test_partial_connect_is_closed_after_connect_timeout(broker_factory):
    broker = broker_factory({"limits": {"connect_timeout_seconds": 1}})
    c = RawClient(broker.port())
    try:
        c.send(connect_packet("slowloris-client-1")[:7])  # never completes
        t0 = time.monotonic()
        assert c.wait_closed(5)
        assert time.monotonic() - t0 <= 3.0
    finally:
        c.close()


def test_connect_timeout_does_not_affect_connected_clients(broker_factory):
    broker = broker_factory({"limits": {"connect_timeout_seconds": 1}})
    c = raw_connected(broker.port(), "connected-quiet-01", keepalive=60)
    try:
        assert not c.wait_closed(2.0), "a connected client was closed by connect_timeout_seconds"
    finally:
        c.close()


def test_max_connections_refuses_the_extra_connection(broker_factory):
    broker = broker_factory({"limits": {"max_connections": 3}})
    port = broker.port()
    held = [raw_connected(port, f"max-conn-held-{i}") for i in range(3)]
    try:
        extra = RawClient(port)
        try:
            extra.try_send(connect_packet("max-conn-extra-01"))
            assert extra.wait_closed(2), "the 4th connection was not closed"
        finally:
            extra.close()
        # The held ones are unaffected.
        for c in held:
            c.send(PINGREQ_PACKET)
            assert c.expect(PINGRESP).type == PINGRESP
        # Freeing a slot admits a new client again (the broker notices the close asynchronously).
        held.pop().close()

        def admitted():
            c = RawClient(port)
            try:
                c.send(connect_packet("max-conn-later-01"))
                p = c.read_packet(1)
                if p.type == 2 and p.body[1] == 0:
                    held.append(c)
                    return True
            except Exception:
                pass
            c.close()
            return False

        wait_until(admitted, 5, interval=0.1, what="a free connection slot")
    finally:
        for c in held:
            c.close()


def test_max_connections_slot_is_freed_after_refusal(broker_factory):
    """Refused connections must not leak slots: many refusals, then a client still fits."""
    broker = broker_factory({"limits": {"max_connections": 1}})
    port = broker.port()
    held = raw_connected(port, "only-one-client-1")
    try:
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.close()
    finally:
        held.close()

    def admitted():
        try:
            c = raw_connected(port, "after-refusals-01")
        except Exception:
            return False
        c.close()
        return True

    wait_until(admitted, 5, interval=0.1, what="a connection after refusals")


@pytest.mark.skipif(bool(os.environ.get("PORTCULLIS_SANITIZED")),
                    reason="a sanitizer runtime needs descriptors of its own (UBSan's vptr check opens a pipe "
                           "to probe memory): at the descriptor limit it reports errors the daemon does not have")
def test_running_out_of_descriptors_pauses_accepting_and_then_serves_the_queue(broker_factory):
    """EMFILE on accept: logged, the daemon keeps running, the queued clients of every listener
    are served once descriptors are free again (each listener backs off and resumes on its own:
    two listeners starved together must both come back)."""
    listeners = [{"name": name, "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]}
                 for name in ("mqtt", "mqtt_b")]
    broker = broker_factory({"listeners": listeners})
    pid = broker.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    mark = broker.log_mark()
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 2, hard))
    clients = []
    try:
        for i in range(8):
            c = RawClient(broker.port(("mqtt", "mqtt_b")[i % 2]))  # the kernel queues it
            c.send(connect_packet(f"fd-starved-{i}"))
            clients.append(c)
        for name in ("mqtt", "mqtt_b"):
            broker.wait_log(rf"accept on {name} failed: Too many open files", timeout=5, start=mark)
        assert broker.is_running()
        waiting = []
        for c in clients:
            try:
                assert c.read_packet(0.3).type == 2
            except TimeoutError:
                waiting.append(c)
        assert waiting, "every client was served despite the descriptor limit"
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for c in waiting:
            p = c.read_packet(5)
            assert p.type == 2 and p.body[1] == 0, f"CONNACK {p.body!r}"
        round_trip(broker.port("mqtt"), "after-fd-starvation")
        round_trip(broker.port("mqtt_b"), "after-fd-starvation-b")
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for c in clients:
            c.close()


def test_a_queue_longer_than_one_accept_turn_is_served_in_full(broker_factory):
    """The accept loop takes at most 256 connections per wake-up (fairness with signals and the
    admin API) and must come back for the rest at once: 600 connections queued while the
    daemon is stopped all get their CONNACK after it continues."""
    broker = broker_factory()
    port = broker.port()
    clients = []
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        for i in range(600):
            c = RawClient(port)  # completed by the kernel, queued for accept
            c.send(connect_packet(f"queued-{i}"))
            clients.append(c)
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    try:
        for c in clients:
            p = c.read_packet(10)
            assert p.type == 2 and p.body[1] == 0, f"CONNACK {p.body!r}"
        assert broker.is_running()
    finally:
        for c in clients:
            c.close()
