"""Black-box harness for the Portcullis daemon (STYLE §c39).

Starts `portcullis serve` with a config written into a private temporary directory, every
listener bound to 127.0.0.1:0, and learns the chosen ports from `<data_dir>/ports.json`.
Nothing here sleeps as synchronisation: every wait polls with a deadline. Teardown sends
SIGTERM and checks that the daemon exits 0 within 10 s and was not killed by a signal, so
every test also checks a clean shutdown. Safe under `ctest -j`: no fixed ports, no shared
files.
"""

import copy
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 10.0


def binary() -> str:
    """Path of the daemon under test: $PORTCULLIS_BIN (set by ctest), else the dev build."""
    path = os.environ.get("PORTCULLIS_BIN")
    if not path:
        for candidate in ("/tmp/portcullis-dev", "/tmp/portcullis"):
            if os.access(candidate, os.X_OK):
                path = candidate
                break
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("PORTCULLIS_BIN is not set to an executable portcullis binary")
    return path


def deep_merge(base: dict, override: dict) -> dict:
    """Returns base with override merged in; nested dicts merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config() -> dict:
    """The test defaults: one anonymous MQTT listener on loopback, any client id length
    accepted, and a rate limit far above anything a test sends (tests that exercise the
    limit override `limits.rate`)."""
    return {
        "listeners": [
            {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
        ],
        "limits": {
            "rate": {"messages": 1000000, "per_seconds": 1, "burst": 1000000, "action": "throttle"},
        },
        "auth": {"client_id": {"min_length": 0, "max_length": 128}},
    }


def wait_until(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Polls predicate until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


class Broker:
    """One running daemon. Use through the `broker_factory` / `broker` fixtures."""

    def __init__(self, workdir: Path, overrides: dict | None = None, extra_args: list | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "var"
        self.config_path = self.workdir / "portcullis.json"
        self.log_path = self.workdir / "broker.log"
        self.config = deep_merge(default_config(), overrides or {})
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._ports: dict = {}
        self._log_file = None
        self.config_path.write_text(json.dumps(self.config, indent=2))

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> "Broker":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports_file = self.data_dir / "ports.json"
        if ports_file.exists():
            ports_file.unlink()  # a restart must not read the previous run's ports
        self._log_file = open(self.log_path, "ab")
        cmd = [binary(), "serve", "--config", str(self.config_path), "--data-dir", str(self.data_dir),
               "--log-level", "debug", *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir)
        self.returncode = None

        def ports_ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode} during start-up:\n"
                                   + self.log_text()[-4000:])
            try:
                data = json.loads(ports_file.read_text())
            except (FileNotFoundError, ValueError):
                return None  # not written yet (or written atomically but not yet renamed)
            return data if all(l["name"] in data for l in self.config["listeners"]) else None

        self._ports = wait_until(ports_ready, START_TIMEOUT_S, what="ports.json")
        return self

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait, return the exit code (negative when killed by a signal)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = None
                self._close_log()
                raise AssertionError(f"daemon did not exit within {timeout} s of SIGTERM")
        self.returncode = self.proc.returncode
        self._close_log()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash or power loss would; the next start() runs on the same data dir."""
        self.proc.kill()
        self.proc.wait()
        self.returncode = self.proc.returncode
        self._close_log()

    def restart(self) -> "Broker":
        """Graceful stop (must exit 0) and start again on the same data dir and config."""
        rc = self.terminate()
        assert rc == 0, f"daemon exited {rc} on SIGTERM:\n{self.log_text()[-3000:]}"
        return self.start()

    def stop_and_check(self):
        """Teardown contract: a running daemon exits 0 on SIGTERM within 10 s; a daemon that
        already died is reported as a crash."""
        if self.proc is None:
            return
        already_dead = self.proc.poll() is not None and self.returncode is None
        rc = self.terminate()
        tail = self.log_text()[-3000:]
        self.proc = None
        assert not already_dead, f"daemon exited by itself during the test (exit code {rc}):\n{tail}"
        assert rc >= 0, f"daemon was killed by signal {-rc}:\n{tail}"
        assert rc == 0, f"daemon exited {rc} after SIGTERM:\n{tail}"

    def _close_log(self):
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    # ---- observation -----------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    def port(self, name: str = "mqtt") -> int:
        return int(self._ports[name])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 5.0, start: int = 0) -> re.Match:
        """Waits until the log (from character offset `start`) matches pattern."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log_text(), start), timeout, what=f"log /{pattern}/")

    def log_mark(self) -> int:
        """Current end of the log, to wait only for lines written after this point."""
        return len(self.log_text())

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def metrics(self) -> str | None:
        """Prometheus text from the admin listener, or None when the config has none."""
        if "admin" not in self._ports:
            return None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port('admin')}/metrics", timeout=5) as r:
            return r.read().decode()


def run_cli(*args, timeout: float = 20.0, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs a non-daemon subcommand (check-config, ...) and returns the completed process."""
    return subprocess.run([binary(), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)
