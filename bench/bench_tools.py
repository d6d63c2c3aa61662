#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

  free-port                        print a free TCP port on 127.0.0.1
  wait-ports FILE NAME...          wait (10 s) until ports.json lists every NAME, print them as NAME=PORT
  onboard ADMIN_PORT TOKEN TENANT CA_CERT CA_KEY PORTCULLIS_BIN WORKDIR
                                   create TENANT, get a registration code, make the verification
                                   certificate with `portcullis pki verification`, upload the CA
  wait-idle PID                    wait (max 30 s) until PID uses < 5 % of a core over 0.5 s, so a
                                   broker still working off the previous run's backlog is not measured
  half-rate RAW SCENARIO PUBLISHERS FANOUT
                                   per-publisher rate for the half-load run: half of the slower
                                   broker's median delivered msgs/s at saturation, turned back into
                                   publishes (/ FANOUT deliveries per publish, / PUBLISHERS)
  field FILE KEY [SCENARIO BROKER] print median of KEY over the JSON lines of FILE (filtered)
  report RAW_JSONL ENV_JSON COMMANDS OUT_MD
                                   write RESULTS.md: medians [min-max] per broker, ratios, targets
"""

import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> None:
    """A port below the kernel's ephemeral range that is free now. Mosquitto is restarted on
    the same port between scenarios; a port from the ephemeral range can by then be the local
    end of one of the load generator's thousands of client connections, and the restart fails
    with "Address already in use"."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = list(range(10000, max(low, 10001)))
    random.shuffle(candidates)
    for port in candidates:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        print(port)
        return
    s = socket.socket()  # nothing below the range is free: any free port
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def wait_ports(path: str, *names: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            data = json.loads(Path(path).read_text())
            if all(n in data for n in names):
                for n in names:
                    print(f"{n}={data[n]}")
                return
        except (FileNotFoundError, ValueError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {path}")
        time.sleep(0.05)


def _cpu_ticks(pid: str) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)


def wait_idle(pid: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            a = _cpu_ticks(pid)
            time.sleep(0.5)
            b = _cpu_ticks(pid)
        except (FileNotFoundError, ProcessLookupError):
            return
        if b - a <= 2:  # clock ticks are 10 ms: <= 20 ms of CPU in 500 ms
            return
    print(f"wait-idle: pid {pid} still busy after 30 s", file=sys.stderr)


def _api(port: int, token: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    return json.loads(text) if text else {}


def onboard(admin_port: str, token_file: str, tenant: str, ca_cert: str, ca_key: str, binary: str,
            workdir: str) -> None:
    port = int(admin_port)
    token = Path(token_file).read_text().strip()
    _api(port, token, "POST", "/api/v1/tenants", {"id": tenant})
    code = _api(port, token, "POST", f"/api/v1/tenants/{tenant}/registration-codes")["registrationCode"]
    ver = Path(workdir) / "verification.crt"
    subprocess.run([binary, "pki", "verification", "--code", code, "--ca-cert", ca_cert, "--ca-key", ca_key,
                    "--out-cert", str(ver)], check=True, stdout=subprocess.DEVNULL)
    out = _api(port, token, "POST", f"/api/v1/tenants/{tenant}/cas",
               {"certificate": Path(ca_cert).read_text(), "verificationCertificate": ver.read_text()})
    print(f"onboarded tenant {tenant}: CA {out.get('subject', '?')}")


def _load(path: str) -> list:
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def _values(rows, scenario, broker, key):
    return [r[key] for r in rows
            if r.get("scenario") == scenario and r.get("broker") == broker and isinstance(r.get(key), (int, float))]


def field(path: str, key: str, scenario: str | None = None, broker: str | None = None) -> None:
    rows = _load(path)
    vals = [r[key] for r in rows if (scenario is None or r.get("scenario") == scenario)
            and (broker is None or r.get("broker") == broker) and isinstance(r.get(key), (int, float))]
    print(statistics.median(vals) if vals else 0)


def half_rate(raw: str, scenario: str, publishers: str, fanout: str) -> None:
    rows = _load(raw)
    meds = [statistics.median(v) for v in (_values(rows, scenario, b, "msgs_out_per_s") for b in ("portcullis", "mosquitto"))
            if v]
    meds = [m for m in meds if m > 0]
    slower = min(meds) if meds else 2000.0
    print(max(1.0, round(slower / 2 / int(fanout) / int(publishers), 1)))


# (section, metric label, portcullis scenario, mosquitto scenario, key, unit, target[, mosquitto broker])
# target: (kind, value) where kind is "ratio_ge", "ratio_le", "abs_ge" (Portcullis value), "zero".
# The Mosquitto broker is "mosquitto" (Debian's TCP defaults: Nagle on) unless an eighth element
# names another: "mosquitto_nodelay" (set_tcp_nodelay true) rows are context for the stricter
# comparison; the targets are judged against the Mosquitto issue #7 describes.
NODELAY = "mosquitto_nodelay"
TABLE = [
    ("QoS 0 fan-in 16->1, saturation", "delivered msgs/s", "q0_fanin_sat", "q0_fanin_sat", "msgs_out_per_s", "msg/s", ("ratio_ge", 1.5)),
    ("QoS 0 fan-in 16->1, saturation", "broker CPU us / delivered msg", "q0_fanin_sat", "q0_fanin_sat", "broker_cpu_us_per_delivered", "us", ("ratio_le", 0.7)),
    ("QoS 0 fan-in 16->1, saturation", "published msgs/s", "q0_fanin_sat", "q0_fanin_sat", "msgs_in_per_s", "msg/s", None),
    ("QoS 0 fan-out 1->16, saturation", "delivered msgs/s", "q0_fanout_sat", "q0_fanout_sat", "msgs_out_per_s", "msg/s", ("ratio_ge", 1.5)),
    ("QoS 0 fan-out 1->16, saturation", "broker CPU us / delivered msg", "q0_fanout_sat", "q0_fanout_sat", "broker_cpu_us_per_delivered", "us", ("ratio_le", 0.7)),
    ("QoS 0 fan-out 1->16, saturation", "published msgs/s", "q0_fanout_sat", "q0_fanout_sat", "msgs_in_per_s", "msg/s", None),
    ("QoS 1 16->16, 64 B, saturation", "delivered msgs/s", "q1_64_sat", "q1_64_sat", "msgs_out_per_s", "msg/s", ("ratio_ge", 1.5)),
    ("QoS 1 16->16, 64 B, saturation", "broker CPU us / delivered msg", "q1_64_sat", "q1_64_sat", "broker_cpu_us_per_delivered", "us", ("ratio_le", 0.7)),
    ("QoS 1 16->16, 64 B, saturation", "lost (acked, not delivered)", "q1_64_sat", "q1_64_sat", "lost", "msgs", ("zero", 0)),
    ("QoS 1 16->16, 1 KiB, saturation", "delivered msgs/s", "q1_1k_sat", "q1_1k_sat", "msgs_out_per_s", "msg/s", ("ratio_ge", 1.5)),
    ("QoS 1 16->16, 1 KiB, saturation", "broker CPU us / delivered msg", "q1_1k_sat", "q1_1k_sat", "broker_cpu_us_per_delivered", "us", ("ratio_le", 0.7)),
    ("QoS 1 16->16, 1 KiB, saturation", "lost (acked, not delivered)", "q1_1k_sat", "q1_1k_sat", "lost", "msgs", ("zero", 0)),
    ("QoS 0 fan-in 16->1, half load", "latency p99", "q0_fanin_half", "q0_fanin_half", "lat_p99_us", "us", ("ratio_le", 0.2)),
    ("QoS 0 fan-in 16->1, half load", "latency p50", "q0_fanin_half", "q0_fanin_half", "lat_p50_us", "us", None),
    ("QoS 0 fan-in 16->1, half load", "latency p99, Mosquitto with set_tcp_nodelay true", "q0_fanin_half", "q0_fanin_half", "lat_p99_us", "us", None, NODELAY),
    ("QoS 0 fan-out 1->16, half load", "latency p99", "q0_fanout_half", "q0_fanout_half", "lat_p99_us", "us", ("ratio_le", 0.2)),
    ("QoS 0 fan-out 1->16, half load", "latency p50", "q0_fanout_half", "q0_fanout_half", "lat_p50_us", "us", None),
    ("QoS 0 fan-out 1->16, half load", "latency p99, Mosquitto with set_tcp_nodelay true", "q0_fanout_half", "q0_fanout_half", "lat_p99_us", "us", None, NODELAY),
    ("QoS 1 16->16, 64 B, half load", "latency p99", "q1_64_half", "q1_64_half", "lat_p99_us", "us", ("ratio_le", 0.8)),
    ("QoS 1 16->16, 64 B, half load", "latency p50", "q1_64_half", "q1_64_half", "lat_p50_us", "us", None),
    ("QoS 1 16->16, 64 B, half load", "latency p99, Mosquitto with set_tcp_nodelay true", "q1_64_half", "q1_64_half", "lat_p99_us", "us", None, NODELAY),
    ("QoS 1 16->16, 64 B, half load", "lost (acked, not delivered)", "q1_64_half", "q1_64_half", "lost", "msgs", ("zero", 0)),
    ("QoS 1 16->16, 1 KiB, half load", "latency p99", "q1_1k_half", "q1_1k_half", "lat_p99_us", "us", ("ratio_le", 0.8)),
    ("QoS 1 16->16, 1 KiB, half load", "latency p50", "q1_1k_half", "q1_1k_half", "lat_p50_us", "us", None),
    ("QoS 1 16->16, 1 KiB, half load", "latency p99, Mosquitto with set_tcp_nodelay true", "q1_1k_half", "q1_1k_half", "lat_p99_us", "us", None, NODELAY),
    ("QoS 1 16->16, 1 KiB, half load", "lost (acked, not delivered)", "q1_1k_half", "q1_1k_half", "lost", "msgs", ("zero", 0)),
    ("Idle connections", "connections held", "idle", "idle", "held", "conns", None),
    ("Idle connections", "broker RSS bytes / connection", "idle", "idle", "bytes_per_connection", "B", ("ratio_le", 1.0)),
    ("Idle mTLS connections (first connects, no target)", "connections held", "mtls_idle", "mtls_idle", "held", "conns", None),
    ("Idle mTLS connections (first connects, no target)", "broker RSS bytes / connection", "mtls_idle", "mtls_idle", "bytes_per_connection", "B", None),
    ("Connect storm", "x5c JWT warm reconnect vs Mosquitto password_file", "x5c_warm", "password", "connects_per_s", "conn/s", ("ratio_ge", 1.5)),
    ("Connect storm", "x5c JWT cold (first connect: chain + binding + provisioning)", "x5c_cold", "password", "connects_per_s", "conn/s", ("abs_ge", 5000)),
    ("Connect storm", "x5c JWT cold: broker CPU ms / connect", "x5c_cold", "password", "broker_cpu_ms_per_connect", "ms", None),
    ("Connect storm", "x5c JWT warm: broker CPU ms / connect", "x5c_warm", "password", "broker_cpu_ms_per_connect", "ms", None),
    ("Connect storm", "x5c JWT warm: connect latency p99", "x5c_warm", "password", "lat_p99_us", "us", None),
    ("Connect storm, concurrency 200 (listen backlog)", "x5c JWT warm reconnect vs Mosquitto password_file", "x5c_warm_c200", "password_c200", "connects_per_s", "conn/s", ("ratio_ge", 1.5)),
    ("Connect storm, concurrency 200 (listen backlog)", "connect latency p99 (warm x5c vs password)", "x5c_warm_c200", "password_c200", "lat_p99_us", "us", ("worst_lt", 1_000_000)),
    ("Connect storm, concurrency 200 (listen backlog)", "x5c JWT cold (first connect)", "x5c_cold_c200", "password_c200", "connects_per_s", "conn/s", ("abs_ge", 5000)),
    ("Connect storm, concurrency 200 (listen backlog)", "x5c JWT cold: connect latency p99", "x5c_cold_c200", "password_c200", "lat_p99_us", "us", ("worst_lt", 1_000_000)),
    ("mTLS storm", "broker CPU ms / handshake (warm devices)", "mtls_warm", "mtls", "broker_cpu_ms_per_connect", "ms", ("ratio_le", 0.5)),
    ("mTLS storm", "broker CPU ms / handshake (first connect, provisioning)", "mtls_cold", "mtls", "broker_cpu_ms_per_connect", "ms", None),
    ("mTLS storm", "connects/s (warm devices)", "mtls_warm", "mtls", "connects_per_s", "conn/s", None),
]


# Durable sessions (issue #6): Portcullis against itself, persistent vs clean subscribers.
# (metric label, key, unit, target on persistent / clean for Portcullis)
DURABLE = [
    ("delivered msgs/s", "msgs_out_per_s", "msg/s", ("ratio_ge", 0.5)),
    ("broker CPU us / delivered msg", "broker_cpu_us_per_delivered", "us", None),
    ("latency p99", "lat_p99_us", "us", None),
    ("lost (acked, not delivered)", "lost", "msgs", ("zero", 0)),
]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _cell(vals):
    if not vals:
        return "n/a", None
    m = statistics.median(vals)
    if len(vals) == 1:
        return _fmt(m), m
    return f"{_fmt(m)} [{_fmt(min(vals))}–{_fmt(max(vals))}]", m


def _verdict(target, p, m, p_vals):
    if target is None:
        return ""
    kind, value = target
    if kind == "zero":
        if not p_vals:
            return "n/a"
        worst = max(p_vals)
        return "met" if worst == 0 else f"**missed**: {int(worst)} lost in the worst Portcullis run ({int(sum(p_vals))} in all runs)"
    if kind == "worst_lt":  # every Portcullis run below the bound (no SYN-retransmit tails)
        if not p_vals:
            return "n/a"
        worst = max(p_vals)
        return f"met (every run < {_fmt(value)})" if worst < value else f"**missed**: worst run {_fmt(worst)}"
    if kind == "abs_ge":
        if p is None:
            return "n/a"
        return f"met (≥ {value:,})" if p >= value else f"**missed**: {_fmt(p)} is {p / value:.2f}× of {value:,}"
    if p is None or m is None or m == 0:
        return "n/a"
    r = p / m
    if kind == "ratio_ge":
        return f"met (≥ {value}×)" if r >= value else f"**missed** (≥ {value}× wanted; short by {value / r:.2f}×)"
    return f"met (≤ {value}×)" if r <= value else f"**missed** (≤ {value}× wanted; over by {r / value:.2f}×)"


def report(raw: str, env_json: str, commands: str, out_md: str) -> None:
    rows = _load(raw)
    env = json.loads(Path(env_json).read_text())
    lines = ["# Portcullis vs Mosquitto — benchmark results", "",
             "Generated by `bench/run.sh` (see bench/README.md). Every figure is the median over the rounds, "
             "with [min–max]; the ratio column is Portcullis ÷ Mosquitto of the medians. Raw JSON lines: "
             f"`{env.get('raw_path', 'bench/out/')}` (not committed). Mosquitto is Debian's package with its "
             "TCP defaults (`set_tcp_nodelay false`: Nagle on, as issue #7 describes it); the half-load runs also "
             "go to a second Mosquitto with `set_tcp_nodelay true`, whose p99 rows are the stricter comparison "
             "(context: the targets are judged against the first).", "",
             "## Machine and versions", ""]
    for k in ("date", "host_note", "nproc", "cpu_model", "kernel", "load_before", "load_after", "portcullis", "mosquitto",
              "rounds", "half_load_rates", "durations", "client"):
        if k in env:
            lines.append(f"- **{k}**: {env[k]}")
    lines += ["", "## Results", "",
              "| scenario | metric | Portcullis | Mosquitto | ratio P÷M | target |",
              "|---|---|---|---|---|---|"]
    for section, label, ps, ms, key, unit, target, *other in TABLE:
        p_vals = _values(rows, ps, "portcullis", key)
        m_vals = _values(rows, ms, other[0] if other else "mosquitto", key)
        if other and not m_vals:
            continue  # a run without that Mosquitto (e.g. BENCH_SCENARIOS without half)
        pc, p = _cell(p_vals)
        mc, m = _cell(m_vals)
        ratio = f"{p / m:.2f}" if p is not None and m not in (None, 0) else "–"
        if target and target[0] in ("zero", "abs_ge"):
            ratio = "–" if target[0] == "zero" else ratio
        lines.append(f"| {section} | {label} ({unit}) | {pc} | {mc} | {ratio} | {_verdict(target, p, m, p_vals)} |")
    if any(r.get("scenario", "").startswith("q1_durable_") for r in rows):
        lines += ["", "## Durable sessions: QoS 1, 10 publishers -> 100 subscribers on 10 topics (issue #6)", "",
                  "Persistent = subscribers connect with CleanSession=0: Portcullis sends the publisher's PUBACK "
                  "only once the message is durable in SQLite (group commit) or acknowledged by every persistent "
                  "subscriber it went to (then nothing is written). Mosquitto runs with `persistence false` "
                  "(in-memory sessions, nothing durable); its columns are context only. Target: Portcullis "
                  "persistent ÷ Portcullis clean ≥ 0.5.", "",
                  "| metric | Portcullis persistent | Portcullis clean | ratio pers÷clean | Mosquitto persistent (memory) "
                  "| Mosquitto clean | target |",
                  "|---|---|---|---|---|---|---|"]
        for label, key, unit, target in DURABLE:
            cells, meds = [], []
            for broker, scen in (("portcullis", "q1_durable_persistent"), ("portcullis", "q1_durable_clean"),
                                 ("mosquitto", "q1_durable_persistent"), ("mosquitto", "q1_durable_clean")):
                c, m = _cell(_values(rows, scen, broker, key))
                cells.append(c)
                meds.append(m)
            p, c = meds[0], meds[1]
            ratio = f"{p / c:.2f}" if p is not None and c not in (None, 0) and key != "lost" else "–"
            verdict = _verdict(target, p, c, _values(rows, "q1_durable_persistent", "portcullis", key))
            lines.append(f"| {label} ({unit}) | {cells[0]} | {cells[1]} | {ratio} | {cells[2]} | {cells[3]} | {verdict} |")
    lines += ["", "## Sanity checks per run", "",
              "| scenario | broker | round | ok | sent | delivered | expected | lost | msgs/s out | p99 us | CPU s |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("mode") != "pubsub":
            continue
        lines.append(f"| {r['scenario']} | {r['broker']} | {r.get('round', '')} | {r.get('ok')} | {r['sent']} | "
                     f"{r['delivered']} | {r['expected_deliveries']} | {r.get('lost')} | {_fmt(r['msgs_out_per_s'])} | "
                     f"{_fmt(r['lat_p99_us'])} | {_fmt(r.get('broker_cpu_s', 0))} |")
    lines += ["", "| scenario | broker | round | accepted/count | CONNACK codes | conn/s | p50 us | p99 us | CPU ms/conn |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("mode") == "connect":
            lines.append(f"| {r['scenario']} | {r['broker']} | {r.get('round', '')} | {r['accepted']}/{r['count']} | "
                         f"`{json.dumps(r['connack_codes'])}` | {_fmt(r['connects_per_s'])} | {_fmt(r['lat_p50_us'])} | "
                         f"{_fmt(r['lat_p99_us'])} | {_fmt(r.get('broker_cpu_ms_per_connect', 0))} |")
        elif r.get("mode") == "idle":
            lines.append(f"| {r.get('scenario') or 'idle'} | {r['broker']} | {r.get('round', '')} | {r['held']}/{r['count']} held | "
                         f"dropped {r['dropped']} | RSS {r.get('broker_rss_before_kib')}→{r.get('broker_rss_after_kib')} KiB | "
                         f"{_fmt(r.get('bytes_per_connection', 0))} B/conn | connect {r.get('connect_elapsed_s', 0):.1f} s | |")
    notes = env.get("notes")
    if notes:
        lines += ["", "## Observations", "", notes]
    lines += ["", "## Commands", "", "Ports and PIDs differ per run; `$PORT`-style values were filled in by run.sh.", "",
              "```"]
    lines += Path(commands).read_text().splitlines()
    lines += ["```", ""]
    Path(out_md).write_text("\n".join(lines))


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    {"free-port": free_port, "wait-idle": wait_idle, "wait-ports": wait_ports, "onboard": onboard, "field": field, "half-rate": half_rate,
     "report": report}[cmd](*args)


if __name__ == "__main__":
    main()
