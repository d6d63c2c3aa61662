"""Helpers for the device-authentication tests (SPEC §4, §5): a daemon with an x5c-jwt
listener and an admin listener, the admin API, the `portcullis pki` / `portcullis token`
CLI, hand-built (broken) certificates and tokens, and one assertion for "this CONNECT is
refused, and the operator can see why" (CONNACK code + close, log line, /metrics counter,
GET /api/v1/auth-failures).

Nothing here sleeps as synchronisation: every wait polls with a deadline.
"""

import base64
import datetime as dt
import http.client
import json
import os
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from broker_harness import Broker, run_cli, wait_until
from mqtt_helpers import Closed, PahoClient, RawClient

BEARER = "_CertificateBearer"
AUDIENCE = "MQTTBroker"
SCHEMAS = ["urn:siemens:mindsphere:v1"]
_start_lock = threading.Lock()


# ======================================================================================
# Daemon
# ======================================================================================
def auth_overrides(extra: dict | None = None) -> dict:
    """An x5c-jwt MQTT listener (no anonymous access), an admin listener, the SPEC client id
    bounds (16..128). `extra` is merged on top (nested dicts merge, lists replace)."""
    from broker_harness import deep_merge
    base = {
        "listeners": [
            {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"]},
            {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"},
        ],
        "auth": {"client_id": {"min_length": 16, "max_length": 128}},
    }
    return deep_merge(base, extra or {})


class AuthBroker(Broker):
    """A Broker whose process gets PORTCULLIS_ADMIN_TOKEN in its environment (only its own:
    the variable is set around the spawn and restored, under a lock)."""

    def __init__(self, workdir: Path, overrides: dict | None = None, admin_token: str | None = None):
        super().__init__(workdir, overrides)
        self.admin_token = admin_token or "authit-" + secrets.token_hex(16)

    def start(self) -> "AuthBroker":
        with _start_lock:
            old = os.environ.get("PORTCULLIS_ADMIN_TOKEN")
            os.environ["PORTCULLIS_ADMIN_TOKEN"] = self.admin_token
            try:
                super().start()
            finally:
                if old is None:
                    os.environ.pop("PORTCULLIS_ADMIN_TOKEN", None)
                else:
                    os.environ["PORTCULLIS_ADMIN_TOKEN"] = old
        return self

    @property
    def admin(self) -> "Admin":
        return Admin(self.port("admin"), self.admin_token)

    def metric(self, name: str, labels: dict | None = None) -> float:
        return metric_value(self.metrics(), name, labels)


class AuthBrokers:
    """Starts AuthBrokers under one directory and checks each one's clean exit at the end."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.started: list[AuthBroker] = []
        self._n = 0

    def __call__(self, extra: dict | None = None, overrides: dict | None = None) -> AuthBroker:
        self._n += 1
        cfg = overrides if overrides is not None else auth_overrides(extra)
        b = AuthBroker(self.root / f"authbroker{self._n}", cfg)
        self.started.append(b)
        return b.start()

    def stop_all(self):
        errors = []
        for b in self.started:
            try:
                b.stop_and_check()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n\n".join(errors)


def metric_value(text: str, name: str, labels: dict | None = None) -> float:
    """Value of one Prometheus sample (0 when absent)."""
    want = labels or {}
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in want.items()):
            return float(m.group(4))
    return 0.0


# ======================================================================================
# Admin API
# ======================================================================================
class Admin:
    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body=None, token: str | None = "__default__"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {}
        tok = self.token if token == "__default__" else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return r.status, doc

    def ok(self, method: str, path: str, body=None, expect=(200, 201, 204)):
        status, doc = self.request(method, path, body)
        assert status in ((expect,) if isinstance(expect, int) else expect), \
            f"{method} {path} -> {status} {doc}"
        return doc

    def create_tenant(self, tenant: str):
        return self.ok("POST", "/api/v1/tenants", {"id": tenant}, expect=201)

    def registration_code(self, tenant: str) -> str:
        doc = self.ok("POST", f"/api/v1/tenants/{tenant}/registration-codes", expect=201)
        assert isinstance(doc.get("registrationCode"), str) and doc["registrationCode"], doc
        assert isinstance(doc.get("expiresAt"), int) and doc["expiresAt"] > time.time(), doc
        return doc["registrationCode"]

    def upload_ca(self, tenant: str, ca_pem: str, verification_pem: str):
        return self.request("POST", f"/api/v1/tenants/{tenant}/cas",
                            {"certificate": ca_pem, "verificationCertificate": verification_pem})

    def agents(self, tenant: str) -> list:
        doc = self.ok("GET", f"/api/v1/tenants/{tenant}/agents", expect=200)
        assert isinstance(doc, dict) and isinstance(doc.get("agents"), list), doc
        return doc["agents"]

    def failures(self, tenant: str | None = None) -> list:
        q = "?limit=1000" + (f"&tenant={tenant}" if tenant else "")
        doc = self.ok("GET", f"/api/v1/auth-failures{q}", expect=200)
        assert isinstance(doc, dict) and isinstance(doc.get("failures"), list), doc
        return doc["failures"]


# ======================================================================================
# PKI through the CLI
# ======================================================================================
class Pki:
    """Files made by `portcullis pki` under one directory. Paths are returned as str."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _run(self, *args):
        r = run_cli("pki", *args)
        assert r.returncode == 0, f"portcullis pki {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"

    def ca(self, name: str, cn: str):
        c, k = str(self.root / f"{name}.crt"), str(self.root / f"{name}.key")
        self._run("ca", "--cn", cn, "--out-cert", c, "--out-key", k)
        return c, k

    def intermediate(self, name: str, cn: str, issuer):
        c, k = str(self.root / f"{name}.crt"), str(self.root / f"{name}.key")
        self._run("intermediate", "--cn", cn, "--ca-cert", issuer[0], "--ca-key", issuer[1],
                  "--out-cert", c, "--out-key", k)
        return c, k

    def device(self, name: str, cn: str, issuer, client_auth: bool = False):
        c, k = str(self.root / f"{name}.crt"), str(self.root / f"{name}.key")
        self._run("device", "--cn", cn, "--ca-cert", issuer[0], "--ca-key", issuer[1],
                  "--out-cert", c, "--out-key", k, *(["--client-auth"] if client_auth else []))
        return c, k

    def server(self, name: str, cn: str, issuer):
        c, k = str(self.root / f"{name}.crt"), str(self.root / f"{name}.key")
        self._run("server", "--cn", cn, "--ca-cert", issuer[0], "--ca-key", issuer[1],
                  "--out-cert", c, "--out-key", k)
        return c, k

    def verification(self, code: str, issuer) -> str:
        c = str(self.root / f"verification-{secrets.token_hex(6)}.crt")
        self._run("verification", "--code", code, "--ca-cert", issuer[0], "--ca-key", issuer[1],
                  "--out-cert", c)
        return c


def mint(cert: str, key: str, client_id: str, chain=(), lifetime: int | None = None,
         tenant: str | None = None) -> str:
    args = ["token", "mint", "--cert", cert, "--key", key, "--client-id", client_id]
    for c in chain:
        args += ["--chain", c]
    if lifetime is not None:
        args += ["--lifetime", str(lifetime)]
    if tenant is not None:
        args += ["--tenant", tenant]
    r = run_cli(*args)
    assert r.returncode == 0, f"token mint -> {r.returncode}\n{r.stdout}\n{r.stderr}"
    tok = r.stdout.strip()
    assert tok.count(".") == 2, tok
    return tok


def explain(broker: Broker, token: str, client_id: str | None = None):
    args = ["token", "explain", "--token", token, "--config", str(broker.config_path),
            "--data-dir", str(broker.data_dir)]
    if client_id is not None:
        args += ["--client-id", client_id]
    return run_cli(*args)


def onboard(admin: Admin, pki: Pki, tenant: str, ca, create: bool = True) -> dict:
    """Creates the tenant (when asked) and registers the CA with proof of possession."""
    if create:
        admin.create_tenant(tenant)
    code = admin.registration_code(tenant)
    ver = pki.verification(code, ca)
    status, doc = admin.upload_ca(tenant, Path(ca[0]).read_text(), Path(ver).read_text())
    assert status == 201, f"CA upload for {tenant}: {status} {doc}"
    for k in ("id", "subject", "sha256", "notBefore", "notAfter"):
        assert k in doc, f"CA upload response lacks {k}: {doc}"
    return doc


# ======================================================================================
# Hand-built certificates and tokens (python cryptography)
# ======================================================================================
def load_cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_key(path: str):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def write_pem(path: Path, cert: x509.Certificate, key=None):
    Path(path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        kp = Path(str(path) + ".key")
        kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        os.chmod(kp, 0o600)
        return str(path), str(kp)
    return str(path)


def build_device_cert(issuer_cert: x509.Certificate, issuer_key, cn: str, key=None, *,
                      not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
                      key_usage: str | None = "digitalSignature", aki: bool = True, ski: bool = True,
                      version: int = 3, extra_subject: str = "", digest=None, empty_subject: bool = False) -> tuple:
    """A device certificate; key_usage None = no extension, "keyEncipherment" = without
    digitalSignature; version 1 = an X.509 v1 certificate (no extensions at all); digest: the
    issuer's signature hash (SHA-256 by default); empty_subject: no subject DN at all (cn unused)."""
    key = key or new_key()
    now = dt.datetime.now(dt.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if extra_subject:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, extra_subject))
    if empty_subject:
        attrs = []
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name(attrs))
         .issuer_name(issuer_cert.subject)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before or now - dt.timedelta(hours=1))
         .not_valid_after(not_after or now + dt.timedelta(days=30)))
    if version == 3:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        if key_usage is not None:
            b = b.add_extension(x509.KeyUsage(
                digital_signature=(key_usage == "digitalSignature"), content_commitment=False,
                key_encipherment=(key_usage != "digitalSignature"), data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False), critical=True)
        if ski:
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if aki:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),
                                critical=False)
    cert = b.sign(issuer_key, digest or hashes.SHA256())
    if version == 1:
        cert = _resign_as_v1(cert, issuer_key)
    return cert, key


def _resign_as_v1(cert: x509.Certificate, issuer_key) -> x509.Certificate:
    """cryptography only builds v3; rewrite the TBS as v1 (drop version + extensions) and
    sign it again with the issuer key."""
    der = cert.tbs_certificate_bytes
    # Minimal DER walk: TBSCertificate ::= SEQUENCE { [0] version, serial, sigAlg, issuer,
    # validity, subject, spki, [3] extensions }
    def read_tlv(buf, i):
        tag = buf[i]
        ln = buf[i + 1]
        j = i + 2
        if ln & 0x80:
            n = ln & 0x7F
            ln = int.from_bytes(buf[j:j + n], "big")
            j += n
        return tag, j, j + ln  # tag, content start, end

    def enc_len(n):
        if n < 0x80:
            return bytes([n])
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([0x80 | len(b)]) + b

    _, start, end = read_tlv(der, 0)
    i = start
    parts = []
    while i < end:
        tag, cs, ce = read_tlv(der, i)
        if tag not in (0xA0, 0xA3):
            parts.append(der[i:ce])
        i = ce
    body = b"".join(parts)
    tbs = b"\x30" + enc_len(len(body)) + body
    sig = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    alg = bytes.fromhex("300d06092a864886f70d01010b0500")  # sha256WithRSAEncryption
    bitstr = b"\x03" + enc_len(len(sig) + 1) + b"\x00" + sig
    whole = tbs + alg + bitstr
    out = x509.load_der_x509_certificate(b"\x30" + enc_len(len(whole)) + whole)
    assert out.version == x509.Version.v1
    return out


def build_ca_cert(cn: str, key=None, issuer=None, days: int = 365):
    """A CA certificate (self-signed, or signed by issuer=(cert, key))."""
    key = key or new_key()
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    icert, ikey = issuer if issuer else (None, key)
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(icert.subject if icert else subject)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(hours=1))
         .not_valid_after(now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                      crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             (icert.public_key() if icert else key.public_key())), critical=False))
    return b.sign(ikey, hashes.SHA256()), key


def claims_for(client_id: str, lifetime: int = 600, **over) -> dict:
    now = int(time.time())
    c = {"jti": str(uuid.uuid4()), "iss": client_id, "sub": client_id, "aud": [AUDIENCE],
         "iat": now, "nbf": now, "exp": now + lifetime, "schemas": list(SCHEMAS), "ten": ""}
    for k, v in over.items():
        if v is _DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


_DROP = object()
DROP = _DROP


def make_jwt(header: dict, claims: dict, key=None, signature: bytes | None = None) -> str:
    """Compact JWS. RS256 with `key` unless `signature` is given (b"" for alg none)."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{h}.{p}".encode()
    if signature is None:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{h}.{p}.{b64url(signature)}"


def rs256(chain_certs, claims: dict, key, **header_over) -> str:
    header = {"alg": "RS256", "typ": "JWT", "x5c": [der_b64(c) for c in chain_certs]}
    header.update(header_over)
    return make_jwt(header, claims, key)


# ======================================================================================
# MQTT attempts
# ======================================================================================
class TlsRawClient(RawClient):
    """RawClient over TLS (ctx: a client ssl.SSLContext, maybe with a client certificate).
    A TLS-level failure or EOF after the handshake counts as the broker closing."""

    def __init__(self, port: int, ctx: ssl.SSLContext, timeout: float = 5.0, server_hostname="localhost",
                 session: ssl.SSLSession | None = None):
        plain = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(plain, server_hostname=server_hostname, session=session)
        except BaseException:
            plain.close()
            raise
        self._buf = bytearray()
        self.is_closed = False

    def _fill(self, deadline: float) -> None:
        try:
            super()._fill(deadline)
        except (ssl.SSLError, BrokenPipeError) as e:
            if isinstance(e, ssl.SSLWantReadError):
                raise
            self.is_closed = True
            self.tls_error = e
            raise Closed() from None

    def try_send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            return False


def attempt(port: int, client_id: str, password, username=BEARER, timeout: float = 5.0, tls=None):
    """One raw CONNECT (over TLS when `tls` is an SSLContext). Returns (CONNACK code,
    client). The caller closes the client."""
    raw = TlsRawClient(port, tls, timeout=timeout) if tls is not None else RawClient(port, timeout=timeout)
    try:
        rc, _ = raw.connect(client_id, username=username, password=password)
    except BaseException:
        raw.close()
        raise
    return rc, raw


def connects(port: int, client_id: str, password, username=BEARER, tls=None) -> RawClient:
    """A raw connection whose CONNACK was 0 (the caller closes it)."""
    rc, raw = attempt(port, client_id, password, username, tls=tls)
    if rc != 0:
        raw.close()
    assert rc == 0, f"CONNACK {rc:#04x} for {client_id!r}, expected 0"
    return raw


def paho_device(port: int, client_id: str, token: str, keepalive: int = 30) -> PahoClient:
    c = PahoClient(port, client_id, keepalive=keepalive)
    c.client.username_pw_set(BEARER, token)
    rc, _ = c.connect()
    assert rc == 0, f"CONNACK {rc} for device {client_id!r}"
    return c


def assert_refused(broker: AuthBroker, client_id: str, password, reasons, *, code: int = 0x04,
                   username=BEARER, listener: str = "mqtt", tls=None) -> str:
    """The CONNECT gets CONNACK `code` and the connection closes; the reason (one of `reasons`)
    is in the daemon log, counted in /metrics and listed by GET /api/v1/auth-failures with the
    client id. Returns the reason seen."""
    reasons = {reasons} if isinstance(reasons, str) else set(reasons)
    port = broker.port(listener)
    before = {r: broker.metric("portcullis_auth_failures_total", {"reason": r}) for r in reasons}
    mark = broker.log_mark()
    rc, raw = attempt(port, client_id, password, username, tls=tls)
    try:
        assert rc == code, f"{client_id}: CONNACK {rc:#04x}, expected {code:#04x} ({sorted(reasons)})"
        assert raw.wait_closed(5), f"{client_id}: connection still open 5 s after CONNACK {rc:#04x}"
    finally:
        raw.close()

    admin = broker.admin

    def listed():
        return [f for f in admin.failures() if f.get("clientId") == client_id]

    entries = wait_until(listed, 5, interval=0.05, what=f"auth-failures entry for {client_id}")
    seen = entries[0].get("reason")
    assert seen in reasons, f"{client_id}: auth-failures reason {seen!r}, expected one of {sorted(reasons)}: {entries[0]}"

    def in_log():
        for line in broker.log_text()[mark:].splitlines():
            if client_id in line and re.search(rf"(?<![\w.]){re.escape(seen)}(?![\w.])", line):
                return line
        return None

    wait_until(in_log, 5, interval=0.05, what=f"log line with {client_id} and {seen}")
    wait_until(lambda: broker.metric("portcullis_auth_failures_total", {"reason": seen}) >= before[seen] + 1,
               5, interval=0.05, what=f'portcullis_auth_failures_total{{reason="{seen}"}} to increase')
    return seen


def unique_id(prefix: str) -> str:
    """A client id of at least 16 characters, unique per call."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
