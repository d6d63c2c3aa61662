"""Admin HTTP API (SPEC §5, §4.4, §4.3) against the real daemon: every endpoint and every
error status (400, 401, 403, 404, 405, 409, 413), tenant CA onboarding with proof of
possession, and the device lifecycle over x5c JWT (agent provisioned on first connect,
deleting the agent or the CA disconnects the device at once).

One daemon serves the whole module (tests use distinct tenant ids); it is started with
PORTCULLIS_ADMIN_TOKEN set, an x5c-jwt MQTT listener and the http listener, all on
127.0.0.1:0, and stopped with SIGTERM (exit 0 checked by the fixture)."""

import datetime
import http.client
import json
import os
import re
import socket
import time
import uuid

import pytest

from broker_harness import wait_until
from mqtt_helpers import PahoClient
from pki_helpers import CA, USERNAME, fingerprint, mint_jwt

TOKEN = "test-bootstrap-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def daemon(module_broker_factory):
    old = os.environ.get("PORTCULLIS_ADMIN_TOKEN")
    os.environ["PORTCULLIS_ADMIN_TOKEN"] = TOKEN
    try:
        b = module_broker_factory({
            "listeners": [
                {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"]},
                {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"},
            ],
            "auth": {"client_id": {"min_length": 16, "max_length": 128}},
        })
    finally:
        if old is None:
            os.environ.pop("PORTCULLIS_ADMIN_TOKEN", None)
        else:
            os.environ["PORTCULLIS_ADMIN_TOKEN"] = old
    return b


class Response:
    def __init__(self, status, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Api:
    def __init__(self, port: int):
        self.port = port

    def call(self, method: str, path: str, body=None, token: str | None = TOKEN, raw: bytes | None = None,
             headers: dict | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            h = dict(headers or {})
            if token is not None:
                h["Authorization"] = f"Bearer {token}"
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
            if data is not None:
                h.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # ---- shortcuts that assert success ------------------------------------------------
    def tenant(self, prefix: str = "t") -> str:
        tid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        r = self.post("/api/v1/tenants", {"id": tid})
        assert r.status == 201, r
        return tid

    def code(self, tenant: str) -> str:
        r = self.post(f"/api/v1/tenants/{tenant}/registration-codes")
        assert r.status == 201, r
        return r.json["registrationCode"]

    def upload(self, tenant: str, ca: CA, code: str | None = None, **kw) -> Response:
        code = code or self.code(tenant)
        return self.post(f"/api/v1/tenants/{tenant}/cas",
                         {"certificate": ca.pem, "verificationCertificate": ca.verification(code)}, **kw)

    def tenant_token(self, tenant: str) -> str:
        r = self.post(f"/api/v1/tenants/{tenant}/tokens")
        assert r.status == 201, r
        return r.json["token"]


@pytest.fixture(scope="module")
def api(daemon) -> Api:
    return Api(daemon.port("admin"))


def assert_error(r: Response, status: int, code: str | None = None):
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
    if code is not None:
        assert body["error"] == code, body


# ======================================================================================
# health, metrics, authentication
# ======================================================================================
def test_healthz_and_metrics_need_no_token(api):
    r = api.get("/healthz", token=None)
    assert r.status == 200 and r.json == {"status": "ok"}
    r = api.get("/metrics", token=None)
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    for series in ("portcullis_connections", "portcullis_messages_in_total", "portcullis_auth_failures_total",
                   "portcullis_store_operation_seconds", "portcullis_admin_responses_total"):
        assert series in text, series
    # OpenMetrics names a counter's family without "_total": no family may then collide.
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    families = [n[:-len("_total")] if t == "counter" and n.endswith("_total") else n for n, t in types.items()]
    assert len(families) == len(set(families)), sorted(f for f in families if families.count(f) > 1)
    # Every refusal reason is a series before its first refusal (rate() needs one).
    for reason in ("jwt.alg", "jwt.exp", "x5c.chain", "mtls.cn_mismatch", "binding.conflict", "quota.agents"):
        assert re.search(rf'^portcullis_auth_failures_total{{reason="{re.escape(reason)}"}} \d+$', text, re.M), reason


def test_healthz_and_metrics_answer_head_without_a_body(api):
    # Load balancers and probes often ask HEAD; the connection stays usable afterwards.
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        for path in ("/healthz", "/metrics"):
            conn.request("HEAD", path)
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b"", path
            assert int(r.getheader("content-length")) > 0, path
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
    finally:
        conn.close()


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/tenants"), ("POST", "/api/v1/tenants"), ("GET", "/api/v1/auth-failures"),
    ("GET", "/api/v1/tenants/x/cas"), ("POST", "/api/v1/tenants/x/tokens"),
    ("DELETE", "/api/v1/tenants/x/agents/y"), ("GET", "/api/v1/nothing-here"),
])
def test_missing_or_wrong_token_is_401(api, method, path):
    assert_error(api.call(method, path, token=None), 401, "unauthorized")
    assert_error(api.call(method, path, token="not-the-token"), 401, "unauthorized")
    assert_error(api.call(method, path, token=None, headers={"Authorization": f"Basic {TOKEN}"}), 401)
    assert_error(api.call(method, path, token=""), 401)


def test_two_authorization_headers_are_refused(api):
    # Not a list field (RFC 9110 §11.6.2): which one would count is ambiguous, so neither does.
    for first, second in ((TOKEN, "bogus"), ("bogus", TOKEN), (TOKEN, TOKEN)):
        req = ("GET /api/v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {first}\r\nAuthorization: Bearer {second}\r\n"
               "Connection: close\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
            s.sendall(req)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 401 "), data[:200]


def test_posts_without_input_take_an_empty_body_or_a_json_object(api):
    t = api.tenant("nb")
    for path in (f"/api/v1/tenants/{t}/tokens", f"/api/v1/tenants/{t}/registration-codes"):
        assert api.post(path).status == 201
        assert api.post(path, {}).status == 201
        assert_error(api.call("POST", path, raw=b"{bad"), 400, "json.invalid")
        assert_error(api.call("POST", path, raw=b"[1, 2]"), 400, "json.invalid")


# ======================================================================================
# tenants
# ======================================================================================
def test_create_and_list_tenants(api):
    tid = f"acme_{uuid.uuid4().hex[:8]}"
    before = int(time.time())
    r = api.post("/api/v1/tenants", {"id": tid})
    assert r.status == 201, r
    assert r.json["id"] == tid and before - 5 <= r.json["createdAt"] <= time.time() + 5
    assert_error(api.post("/api/v1/tenants", {"id": tid}), 409, "tenant.exists")
    listed = api.get("/api/v1/tenants")
    assert listed.status == 200
    assert tid in [t["id"] for t in listed.json["tenants"]]
    assert all(set(t) >= {"id", "createdAt"} for t in listed.json["tenants"])
    long_ok = "a" * 36
    if api.post("/api/v1/tenants", {"id": long_ok}).status not in (201, 409):
        pytest.fail("a 36-char tenant id must be accepted")


@pytest.mark.parametrize("body", [
    {"id": ""}, {"id": "a" * 37}, {"id": "has space"}, {"id": "slash/y"}, {"id": "ümlaut"}, {"id": 42},
    {}, {"name": "acme"},
])
def test_create_tenant_invalid_id_is_400(api, body):
    r = api.post("/api/v1/tenants", body)
    assert_error(r, 400)
    assert r.json["error"] in ("tenant.invalid_id", "field.invalid")


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b"\"acme\"", b"{\"id\": \"x\",}", b"\xff\xfe",
                                 # one body must not mean two things: a member named twice, text
                                 # hidden behind a NUL byte, a string that is not UTF-8
                                 b'{"id": "dup-a", "id": "dup-b"}', b'{"id": "nul-a"}\x00{"id": "nul-b"} junk',
                                 b'{"id": "utf8-\xff"}'])
def test_bad_json_is_400(api, raw):
    assert_error(api.post("/api/v1/tenants", raw=raw), 400, "json.invalid")
    assert not {"dup-a", "dup-b", "nul-a", "utf8-"} & {t["id"] for t in api.get("/api/v1/tenants").json["tenants"]}


def test_deeply_nested_json_is_400_and_the_broker_lives(api):
    # A million '[' fits in the 1 MiB body limit; a recursive parser would overflow its stack.
    for raw in (b"[" * 1_000_000, b'{"id": ' + b"[" * 500_000 + b"]" * 500_000 + b"}"):
        r = api.post("/api/v1/tenants", raw=raw)
        assert r.status == 400 and r.json["error"] in ("json.invalid", "field.invalid"), r
    assert api.get("/healthz", token=None).status == 200


def test_a_request_trickled_in_is_cut_off_after_10_s(api):
    # Slowloris: a client that never finishes its request holds an admin slot 10 s, not longer.
    import socket
    s = socket.create_connection(("127.0.0.1", api.port), timeout=20)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        assert s.recv(1024) == b""  # closed, without an answer
        assert 8 <= time.monotonic() - t0 <= 15
    finally:
        s.close()
    assert api.get("/healthz", token=None).status == 200


def test_body_over_one_mib_is_413(api):
    big = b"{\"id\": \"" + b"a" * (1024 * 1024 + 100 * 1024) + b"\"}"
    assert_error(api.post("/api/v1/tenants", raw=big), 413)
    # exactly 1 MiB of body is still read (and refused as a bad tenant id, not 413)
    ok = b"{\"id\": \"" + b"a" * (1024 * 1024 - 10) + b"\"}"
    assert len(ok) == 1024 * 1024
    assert_error(api.post("/api/v1/tenants", raw=ok), 400, "tenant.invalid_id")
    assert api.get("/healthz", token=None).status == 200


def test_headers_over_8_kib_are_431(api):
    r = api.get("/api/v1/tenants", headers={"X-Padding": "p" * (10 * 1024)})
    assert_error(r, 431, "request.headers_too_large")
    assert api.get("/healthz", token=None).status == 200


# ======================================================================================
# scopes: tenant tokens
# ======================================================================================
def test_tenant_token_reaches_only_its_tenant(api):
    a, b = api.tenant("scope-a"), api.tenant("scope-b")
    token_a = api.tenant_token(a)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", token_a)
    assert api.get(f"/api/v1/tenants/{a}/cas", token=token_a).status == 200
    assert api.get(f"/api/v1/tenants/{a}/agents", token=token_a).status == 200
    assert api.get(f"/api/v1/tenants/{a}/clients", token=token_a).status == 200
    assert api.post(f"/api/v1/tenants/{a}/registration-codes", token=token_a).status == 201
    # its own tenant's failures only
    assert api.get(f"/api/v1/auth-failures?tenant={a}", token=token_a).status == 200
    # Without ?tenant= a tenant token gets its own tenant's refusals, never another's.
    own = api.get("/api/v1/auth-failures", token=token_a)
    assert own.status == 200 and all(f["tenant"] == a for f in own.json["failures"]), own
    assert_error(api.get(f"/api/v1/auth-failures?tenant={b}", token=token_a), 403, "forbidden")
    # another tenant, existing or not: 403 (no probing which tenants exist)
    for method, path in [("GET", f"/api/v1/tenants/{b}/cas"), ("POST", f"/api/v1/tenants/{b}/cas"),
                         ("GET", f"/api/v1/tenants/{b}/agents"), ("GET", f"/api/v1/tenants/{b}/agents/x"),
                         ("DELETE", f"/api/v1/tenants/{b}/agents/x"), ("DELETE", f"/api/v1/tenants/{b}/cas/x"),
                         ("GET", f"/api/v1/tenants/{b}/clients"), ("POST", f"/api/v1/tenants/{b}/tokens"),
                         ("POST", f"/api/v1/tenants/{b}/registration-codes"),
                         ("GET", "/api/v1/tenants/no-such-tenant/cas")]:
        assert_error(api.call(method, path, token=token_a), 403, "forbidden")
    # global-only endpoints
    assert_error(api.get("/api/v1/tenants", token=token_a), 403, "forbidden")
    assert_error(api.post("/api/v1/tenants", {"id": "sneaky"}, token=token_a), 403, "forbidden")
    # a tenant token may mint further tokens for its own tenant
    r = api.post(f"/api/v1/tenants/{a}/tokens", token=token_a)
    assert r.status == 201 and r.json["token"] != token_a
    assert api.get(f"/api/v1/tenants/{a}/cas", token=r.json["token"]).status == 200


# ======================================================================================
# 404 / 405
# ======================================================================================
def test_unknown_things_are_404(api):
    t = api.tenant("nf")
    for path in ["/api/v1/tenants/does-not-exist/cas", "/api/v1/tenants/does-not-exist/agents",
                 "/api/v1/tenants/does-not-exist/clients"]:
        assert_error(api.get(path), 404, "tenant.not_found")
    assert_error(api.post("/api/v1/tenants/does-not-exist/registration-codes"), 404, "tenant.not_found")
    assert_error(api.post("/api/v1/tenants/does-not-exist/tokens"), 404, "tenant.not_found")
    assert_error(api.delete(f"/api/v1/tenants/{t}/cas/0123456789abcdef"), 404, "ca.not_found")
    assert_error(api.get(f"/api/v1/tenants/{t}/agents/0123456789abcdef0123456789abcdef"), 404, "agent.not_found")
    assert_error(api.delete(f"/api/v1/tenants/{t}/agents/0123456789abcdef0123456789abcdef"), 404,
                 "agent.not_found")
    for path in ["/api/v1/nothing", "/api/v2/tenants", "/", "/api/v1/tenants/" + t + "/widgets",
                 "/api/v1/tenants/" + t + "/cas/a/b"]:
        assert_error(api.get(path), 404)


def test_a_long_id_is_not_echoed_whole(api):
    t = api.tenant("echo")
    for path in ("/api/v1/tenants/" + "a" * 7000 + "/cas", f"/api/v1/tenants/{t}/cas/" + "c" * 5000,
                 f"/api/v1/tenants/{t}/agents/" + "%C3%A9" * 1000):
        method = "DELETE" if "/cas/" in path else "GET"
        r = api.call(method, path)
        assert r.status == 404 and len(r.body) < 300, (r.status, len(r.body))
        assert r.json["message"].count("...") == 1


def test_head_is_answered_wherever_get_is(api):
    t = api.tenant("head")
    for path in ("/api/v1/tenants", f"/api/v1/tenants/{t}/cas", f"/api/v1/tenants/{t}/agents",
                 f"/api/v1/tenants/{t}/clients", "/api/v1/auth-failures", "/healthz", "/metrics"):
        get, head = api.get(path), api.call("HEAD", path)
        assert get.status == 200 and head.status == 200, (path, get.status, head.status)
        assert head.body == b"" and head.headers.get("content-length") == str(len(get.body)), (path, head.headers)
    assert api.call("HEAD", "/api/v1/tenants", token=None).status == 401
    r = api.call("PUT", f"/api/v1/tenants/{t}/agents")
    assert r.status == 405 and "HEAD" in r.headers["allow"], r.headers


def test_wrong_method_on_known_path_is_405(api):
    t = api.tenant("m")
    for method, path in [("DELETE", "/api/v1/tenants"), ("PUT", f"/api/v1/tenants/{t}/cas"),
                         ("GET", f"/api/v1/tenants/{t}/tokens"), ("GET", f"/api/v1/tenants/{t}/registration-codes"),
                         ("POST", f"/api/v1/tenants/{t}/agents"), ("POST", "/api/v1/auth-failures"),
                         ("POST", "/healthz")]:
        r = api.call(method, path)
        assert_error(r, 405, "method_not_allowed")
        assert "allow" in r.headers


# ======================================================================================
# registration codes and CA onboarding (SPEC §4.4)
# ======================================================================================
def test_registration_code(api):
    t = api.tenant("rc")
    r = api.post(f"/api/v1/tenants/{t}/registration-codes")
    assert r.status == 201, r
    assert re.fullmatch(r"[0-9a-f]{32}", r.json["registrationCode"])
    assert abs(r.json["expiresAt"] - (time.time() + 3600)) < 60
    assert api.code(t) != r.json["registrationCode"]


def test_ca_upload_list_and_code_single_use(api):
    t = api.tenant("ca")
    ca = CA()
    code = api.code(t)
    r = api.upload(t, ca, code)
    assert r.status == 201, r
    body = r.json
    assert set(body) >= {"id", "subject", "sha256", "notBefore", "notAfter"}
    assert body["sha256"] == fingerprint(ca.cert)
    assert "CN=" in body["subject"] and ca.name.rfc4514_string().split(",")[0] in body["subject"]
    assert body["notBefore"] < time.time() < body["notAfter"]
    listed = api.get(f"/api/v1/tenants/{t}/cas")
    assert listed.status == 200 and [c["id"] for c in listed.json["cas"]] == [body["id"]]
    assert listed.json["cas"][0]["sha256"] == body["sha256"]
    # addressed by its id: GET (and HEAD) return the same item; an unknown id is 404
    one = api.get(f"/api/v1/tenants/{t}/cas/{body['id']}")
    assert one.status == 200 and one.json == listed.json["cas"][0], one
    assert_error(api.get(f"/api/v1/tenants/{t}/cas/no-such-ca"), 404, "ca.not_found")
    # the same code again (with another CA): single use
    assert_error(api.upload(t, CA(), code), 400, "registration_code.used")


def test_ca_upload_refusals(api):
    t, other = api.tenant("car"), api.tenant("car-other")
    ca = CA()
    cases = [
        # (certificate, verification, status, error)
        (ca.pem, ca.verification("0" * 32), 400, "registration_code.unknown"),
        (ca.pem, ca.verification(api.code(other)), 400, "registration_code.unknown"),
        (ca.pem, ca.verification(api.code(t), signing_key=CA().key), 400, "verification.signature"),
        ("not a pem", ca.verification(api.code(t)), 400, "ca.pem"),
        (ca.pem, "not a pem", 400, "verification.pem"),
    ]
    not_ca = CA(is_ca=False)
    cases.append((not_ca.pem, not_ca.verification(api.code(t)), 400, "ca.not_ca"))
    # RSA 1024 (80-bit security): no device chain under it would validate, so it is refused now.
    weak = CA(bits=1024)
    cases.append((weak.pem, weak.verification(api.code(t)), 400, "ca.weak_key"))
    # keyUsage without keyCertSign: the CA may not issue certificates, so no device would validate.
    no_cert_sign = CA(key_cert_sign=False)
    cases.append((no_cert_sign.pem, no_cert_sign.verification(api.code(t)), 400, "ca.key_usage"))
    # A stale or future proof: the verification certificate must be valid now.
    cases.append((ca.pem, ca.verification(api.code(t), valid_from_hours=-3), 400, "verification.expired"))
    cases.append((ca.pem, ca.verification(api.code(t), valid_from_hours=2), 400, "verification.expired"))
    for cert, verification, status, error in cases:
        r = api.post(f"/api/v1/tenants/{t}/cas", {"certificate": cert, "verificationCertificate": verification})
        assert_error(r, status, error)
    assert_error(api.post(f"/api/v1/tenants/{t}/cas", {"certificate": ca.pem}), 400, "field.invalid")
    assert_error(api.post(f"/api/v1/tenants/{t}/cas", {"verificationCertificate": ca.pem}), 400, "field.invalid")
    assert_error(api.post(f"/api/v1/tenants/{t}/cas", raw=b"nope"), 400, "json.invalid")
    assert api.get(f"/api/v1/tenants/{t}/cas").json == {"cas": []}


def test_duplicate_ca_across_tenants_is_409_and_keeps_the_code(api):
    a, b = api.tenant("dup-a"), api.tenant("dup-b")
    ca = CA()
    assert api.upload(a, ca).status == 201
    code_b = api.code(b)
    assert_error(api.upload(b, ca, code_b), 409, "ca.duplicate")
    assert_error(api.upload(a, ca), 409, "ca.duplicate")
    # the refused upload did not consume tenant b's code
    assert api.upload(b, CA(), code_b).status == 201


def test_ca_delete(api):
    t = api.tenant("cad")
    r = api.upload(t, CA())
    assert r.status == 201
    ca_id = r.json["id"]
    d = api.delete(f"/api/v1/tenants/{t}/cas/{ca_id}")
    assert d.status == 204 and d.body == b""
    assert api.get(f"/api/v1/tenants/{t}/cas").json == {"cas": []}
    assert_error(api.delete(f"/api/v1/tenants/{t}/cas/{ca_id}"), 404, "ca.not_found")


# ======================================================================================
# devices: agents, clients, revocation (SPEC §4.1, §4.3)
# ======================================================================================
def device_client(daemon, ca: CA, client_id: str, device=None) -> tuple[PahoClient, int]:
    key, cert = device or ca.device(client_id)
    c = PahoClient(daemon.port("mqtt"), client_id=client_id)
    c.client.username_pw_set(USERNAME, mint_jwt(key, cert, ca, client_id))
    rc, _ = c.connect()
    return c, rc


def agents_of(api, t):
    r = api.get(f"/api/v1/tenants/{t}/agents")
    assert r.status == 200, r
    return r.json["agents"]


def test_agent_last_seen_follows_the_device(api, daemon):
    """lastSeenAt is "now" while the device is connected, and its disconnect time afterwards
    (readable at once: the admin API writes pending sightings before it reads agents). A
    reconnect moves it on again."""
    t = api.tenant("seen")
    ca = CA()
    assert api.upload(t, ca).status == 201
    cid = "device-" + uuid.uuid4().hex[:12]
    device = ca.device(cid)
    c, rc = device_client(daemon, ca, cid, device)
    assert rc == 0
    connected_at = time.time()
    try:
        agent = wait_until(lambda: agents_of(api, t), 5, what="agent provisioned")[0]
        assert abs(agent["lastSeenAt"] - connected_at) <= 2
        time.sleep(2.2)
        one = api.get(f"/api/v1/tenants/{t}/agents/{agent['id']}").json
        assert one["connected"] is True and one["lastSeenAt"] >= int(connected_at) + 2, one
    finally:
        c.close()
    disconnected_at = time.time()
    wait_until(lambda: not agents_of(api, t)[0]["connected"], 5, what="agent disconnected")
    seen = agents_of(api, t)[0]["lastSeenAt"]
    assert int(connected_at) + 2 <= seen <= disconnected_at + 1, (connected_at, seen, disconnected_at)
    time.sleep(1.5)
    assert agents_of(api, t)[0]["lastSeenAt"] == seen, "lastSeenAt moved while the device was away"
    one = api.get(f"/api/v1/tenants/{t}/agents/{agent['id']}").json
    assert one["lastSeenAt"] == seen and one["connected"] is False


def test_device_lifecycle_agent_clients_and_ca_revocation(api, daemon):
    t = api.tenant("dev")
    ca = CA()
    up = api.upload(t, ca)
    assert up.status == 201, up
    ca_id = up.json["id"]
    cid = "device-" + uuid.uuid4().hex[:12]
    device = ca.device(cid)

    c, rc = device_client(daemon, ca, cid, device)
    try:
        assert rc == 0, f"device refused: {daemon.log_text()[-2000:]}"
        # the agent was provisioned on first connect (SPEC §4.3)
        agents = wait_until(lambda: agents_of(api, t), 5, what="agent provisioned")
        assert len(agents) == 1
        a = agents[0]
        assert a["name"] == cid and a["clientId"] == cid
        assert a["securityProfile"] == "CACertifiedX509" and a["onboardingStatus"] == "ONBOARDED"
        assert cid in a["subjectDn"]
        assert a["connected"] is True
        assert isinstance(a["createdAt"], int) and isinstance(a["lastSeenAt"], int)
        assert a["asset"] == {"id": a["id"], "name": cid, "assetType": "core.mcX509",
                              "description": "Asset for agent provisioned automatically with X.509 certificates."}
        one = api.get(f"/api/v1/tenants/{t}/agents/{a['id']}")
        assert one.status == 200 and one.json["id"] == a["id"] and one.json["connected"] is True

        # connected clients
        c.publish("tele/x", b"hello", qos=1)
        clients = api.get(f"/api/v1/tenants/{t}/clients").json["clients"]
        assert [x["clientId"] for x in clients] == [cid]
        cl = clients[0]
        assert cl["id"] == cid and cl["remoteAddress"].startswith("127.0.0.1")
        assert abs(cl["connectedSince"] - time.time()) < 60
        assert cl["messagesIn"] >= 1 and cl["bytesIn"] > 0
        assert {"messagesOut", "bytesOut"} <= set(cl)

        # deleting the agent disconnects the device and frees the client id
        d = api.delete(f"/api/v1/tenants/{t}/agents/{a['id']}")
        assert d.status == 204, d
        assert c.wait_disconnected(5), "device still connected after its agent was deleted"
        assert_error(api.get(f"/api/v1/tenants/{t}/agents/{a['id']}"), 404, "agent.not_found")
    finally:
        c.close()

    # the freed client id can be used again: a new agent
    c2, rc = device_client(daemon, ca, cid, device)
    try:
        assert rc == 0
        agents = wait_until(lambda: agents_of(api, t), 5, what="agent re-provisioned")
        assert agents[0]["id"] != a["id"] and agents[0]["clientId"] == cid

        # deleting the CA disconnects the device at once ...
        d = api.delete(f"/api/v1/tenants/{t}/cas/{ca_id}")
        assert d.status == 204, d
        assert c2.wait_disconnected(5), "device still connected after its CA was deleted"
    finally:
        c2.close()
    assert wait_until(lambda: api.get(f"/api/v1/tenants/{t}/clients").json["clients"] == [], 5,
                      what="client list empty")

    # ... and no new connect validates against it
    c3, rc = device_client(daemon, ca, cid, device)
    c3.close()
    assert rc == 4
    failures = api.get(f"/api/v1/auth-failures?tenant=&limit=50").json["failures"]
    mine = [f for f in failures if f["clientId"] == cid]
    assert mine, failures
    f = mine[0]
    assert f["reason"] == "x5c.no_tenant_ca"
    assert f["connackCode"] == 4 and f["listener"] == "mqtt"
    assert set(f) >= {"id", "time", "timeMs", "timeIso", "clientId", "remoteAddress", "tenant", "reason", "detail"}
    # `time` is epoch seconds like every other time in the API; timeMs and timeIso the same instant.
    assert isinstance(f["time"], int) and abs(f["time"] - time.time()) < 60
    assert f["time"] == f["timeMs"] // 1000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", f["timeIso"])
    assert datetime.datetime.strptime(f["timeIso"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() == f["timeMs"] / 1000
    m = api.get("/metrics", token=None).body.decode()
    assert re.search(r'portcullis_auth_failures_total\{reason="x5c.no_tenant_ca"\} [1-9]', m), m


def test_a_tenant_sees_the_refusals_of_its_own_devices(api, daemon):
    # Refusals of a device issued under the tenant's CA (here for a claim and for ten) belong
    # to that tenant, so that tenant's admin can debug its devices.
    t = api.tenant("mine")
    ca = CA()
    assert api.upload(t, ca).status == 201
    token = api.tenant_token(t)
    cid = "device-" + uuid.uuid4().hex[:12]
    key, cert = ca.device(cid)
    for tok, reason in ((mint_jwt(key, cert, ca, cid, lifetime=7200), "jwt.lifetime"),
                        (mint_jwt(key, cert, ca, cid, tenant="not-" + t), "jwt.ten")):
        c = PahoClient(daemon.port("mqtt"), client_id=cid)
        c.client.username_pw_set(USERNAME, tok)
        rc, _ = c.connect()
        c.close()
        assert rc == 4
    failures = api.get(f"/api/v1/auth-failures?tenant={t}", token=token).json["failures"]
    assert [f["reason"] for f in failures if f["clientId"] == cid] == ["jwt.ten", "jwt.lifetime"], failures
    assert all(f["tenant"] == t for f in failures), failures
    # The tenant token without ?tenant= sees the same list.
    assert api.get("/api/v1/auth-failures", token=token).json["failures"] == failures
    # A chain that reaches no registered CA is no tenant's, whatever its ten claim says.
    stranger = CA()
    skey, scert = stranger.device(cid)
    c = PahoClient(daemon.port("mqtt"), client_id=cid)
    c.client.username_pw_set(USERNAME, mint_jwt(skey, scert, stranger, cid, tenant=t, lifetime=7200))
    rc, _ = c.connect()
    c.close()
    assert rc == 4
    again = api.get(f"/api/v1/auth-failures?tenant={t}", token=token).json["failures"]
    assert len([f for f in again if f["clientId"] == cid]) == 2, again


def test_a_refused_admin_token_is_logged_with_the_peer_but_not_the_token(api, daemon):
    guess = "guess-" + uuid.uuid4().hex
    assert_error(api.call("GET", "/api/v1/tenants", token=guess), 401, "unauthorized")
    line = wait_until(lambda: next((l for l in daemon.log_text().splitlines()
                                    if "admin request refused method=GET path=/api/v1/tenants status=401 remote=127.0.0.1:" in l
                                    and " info " in l), None), 5, what="the refusal logged")
    assert guess not in daemon.log_text() and TOKEN not in daemon.log_text(), line


def test_auth_failures_limit_and_validation(api):
    assert api.get("/api/v1/auth-failures?limit=1").status == 200
    assert len(api.get("/api/v1/auth-failures?limit=1").json["failures"]) <= 1
    for bad in ("0", "-1", "x", "100000"):
        assert_error(api.get(f"/api/v1/auth-failures?limit={bad}"), 400, "field.invalid")


def test_keep_alive_and_many_connections(api):
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        for _ in range(20):
            conn.request("GET", "/api/v1/tenants", headers={"Authorization": f"Bearer {TOKEN}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200
    finally:
        conn.close()
    conns = [http.client.HTTPConnection("127.0.0.1", api.port, timeout=10) for _ in range(50)]
    try:
        for c in conns:
            c.connect()
        for c in conns:
            c.request("GET", "/healthz")
        for c in conns:
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
    finally:
        for c in conns:
            c.close()


def test_silent_connections_cannot_lock_out_the_admin_api(api, daemon):
    """Connections that send nothing fill the admin connection bound (256); a new connection
    then closes the one that has waited longest for a request, so /healthz and the API still
    answer (and the oldest silent connections are the ones closed)."""
    import socket
    silent = []
    try:
        for _ in range(300):
            silent.append(socket.create_connection(("127.0.0.1", api.port), timeout=5))
        assert api.get("/healthz", token=None).status == 200
        assert api.get("/api/v1/tenants").status == 200
        # The first silent connections were closed by the broker: reading them gives EOF.
        silent[0].settimeout(5)
        assert silent[0].recv(1) == b""
        silent[-1].settimeout(0.2)
        with pytest.raises(socket.timeout):
            silent[-1].recv(1)  # the newest is still open
        metrics = api.get("/metrics", token=None).body.decode()
        evicted = int(re.search(r"^portcullis_admin_connections_evicted_total (\d+)$", metrics, re.M).group(1))
        assert evicted >= 300 - 256
    finally:
        for s in silent:
            s.close()


def test_expect_100_continue_is_answered(api):
    """A client that sends `Expect: 100-continue` (curl does for larger bodies) gets
    `100 Continue` at once, then the answer to its request; an oversized body is refused
    from its Content-Length instead, before any of it is sent."""
    import socket
    body = json.dumps({"id": "t-" + uuid.uuid4().hex[:10]}).encode()
    head = (f"POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as s:
        s.sendall(head)
        s.settimeout(0.5)  # curl waits 1 s before sending anyway
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n"), first
        s.settimeout(5)
        s.sendall(body)
        rest = first[first.index(b"\r\n\r\n") + 4:]
        while b"\r\n\r\n" not in rest:
            rest += s.recv(4096)
        assert rest.startswith(b"HTTP/1.1 201"), rest
    big = (f"POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
           f"Content-Length: {2 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as s:
        s.sendall(big)
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer
