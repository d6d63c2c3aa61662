"""Interop with the Mosquitto command-line clients: what mosquitto_pub sends,
mosquitto_sub receives (QoS 0 and 1)."""

import shutil
import subprocess
import threading

import pytest

pytestmark = pytest.mark.skipif(not (shutil.which("mosquitto_sub") and shutil.which("mosquitto_pub")),
                                reason="mosquitto-clients not installed")


@pytest.fixture(scope="module")
def port(module_broker_factory):
    return module_broker_factory().port()


class Sub:
    """mosquitto_sub -d: waits for its SUBACK before the test publishes."""

    def __init__(self, port, topic, qos, count, client_id):
        line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []  # stdout is a pipe
        self.proc = subprocess.Popen(
            [*line_buffered, "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos),
             "-C", str(count), "-i", client_id, "-d", "-v", "-W", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.subscribed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if "received SUBACK" in line:
                self.subscribed.set()

    def messages(self, timeout=20):
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        assert rc == 0, f"mosquitto_sub exited {rc}: {self.lines[-10:]}"
        return [l for l in self.lines if not l.startswith("Client ") and not l.startswith("Subscribed")]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.parametrize("qos", [0, 1])
def test_mosquitto_pub_to_mosquitto_sub(port, qos):
    n = 20
    sub = Sub(port, f"interop/{qos}/#", qos, n, f"mosq-sub-qos{qos}")
    try:
        assert sub.subscribed.wait(10), f"mosquitto_sub never got SUBACK: {sub.lines}"
        lines = "\n".join(f"msg-{i}" for i in range(n)) + "\n"
        pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", f"interop/{qos}/x",
                              "-q", str(qos), "-l", "-i", f"mosq-pub-qos{qos}"],
                             input=lines, text=True, capture_output=True, timeout=20)
        assert pub.returncode == 0, pub.stderr
        got = sub.messages()
        assert got == [f"interop/{qos}/x msg-{i}" for i in range(n)]
    finally:
        sub.kill()


def test_mosquitto_pub_single_message(port):
    n = 1
    sub = Sub(port, "interop/single", 1, n, "mosq-sub-single")
    try:
        assert sub.subscribed.wait(10)
        pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "interop/single",
                              "-q", "1", "-m", "hello world", "-i", "mosq-pub-single"],
                             capture_output=True, text=True, timeout=20)
        assert pub.returncode == 0, pub.stderr
        assert sub.messages() == ["interop/single hello world"]
    finally:
        sub.kill()


def test_mosquitto_pub_retain_is_refused_in_reject_mode(port):
    pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "interop/retain",
                          "-q", "1", "-r", "-m", "r", "-i", "mosq-pub-retain"],
                         capture_output=True, text=True, timeout=20)
    assert pub.returncode != 0, "mosquitto_pub -r succeeded although retain is rejected"
