"""Tenants are kept apart (SPEC §4.1, §4.4, §5, §6): messages never cross tenants, a device
cannot claim another tenant, a CA belongs to one tenant only, and deleting a CA revokes its
devices at once."""

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from authkit import (AuthBrokers, Pki, assert_refused, attempt, connects, explain, mint, onboard,
                     paho_device, unique_id)
from broker_harness import wait_until


@dataclass
class Env:
    root: Path
    pki: Pki
    broker: object
    ca_a: tuple
    ca_b: tuple


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tenants")
    brokers = AuthBrokers(root)
    try:
        b = brokers()
        pki = Pki(root / "pki")
        ca_a = pki.ca("tenant-a-ca", "Tenant A CA")
        ca_b = pki.ca("tenant-b-ca", "Tenant B CA")
        onboard(b.admin, pki, "tenant-a", ca_a)
        onboard(b.admin, pki, "tenant-b", ca_b)
        yield Env(root, pki, b, ca_a, ca_b)
    finally:
        brokers.stop_all()


def _device(env, ca, tag):
    cid = unique_id(tag)
    crt = env.pki.device(tag, cid, ca)
    return cid, crt


def test_messages_never_cross_tenants(env):
    port = env.broker.port("mqtt")
    a1, a2 = _device(env, env.ca_a, "iso-a1"), _device(env, env.ca_a, "iso-a2")
    b1, b2 = _device(env, env.ca_b, "iso-b1"), _device(env, env.ca_b, "iso-b2")
    clients = {}
    try:
        for name, (cid, crt) in {"a1": a1, "a2": a2, "b1": b1, "b2": b2}.items():
            clients[name] = paho_device(port, cid, mint(*crt, cid))
            assert clients[name].subscribe("#") == [1]

        # Tenant A publishes on a topic tenant B also uses; then each tenant publishes a marker.
        clients["a1"].publish("factory/line/temp", b"from-A", qos=1)
        clients["b1"].publish("factory/line/temp", b"from-B", qos=1)
        clients["a1"].publish("factory/marker", b"end-A", qos=1)
        clients["b1"].publish("factory/marker", b"end-B", qos=1)

        for name, own, other in (("a1", "A", "B"), ("a2", "A", "B"), ("b1", "B", "A"), ("b2", "B", "A")):
            got = clients[name].collect_until(lambda m, own=own: m.payload == f"end-{own}".encode(), timeout=5)
            got += clients[name].drain(0.3)
            payloads = [m.payload for m in got]
            assert f"from-{own}".encode() in payloads, f"{name} missed its own tenant's message: {payloads}"
            assert not any(p.endswith(other.encode()) for p in payloads), \
                f"{name} (tenant {own}) received tenant {other}'s messages: {payloads}"
    finally:
        for c in clients.values():
            c.close()

    names_a = {a["name"] for a in env.broker.admin.agents("tenant-a")}
    names_b = {a["name"] for a in env.broker.admin.agents("tenant-b")}
    assert {a1[0], a2[0]} <= names_a and not {a1[0], a2[0]} & names_b
    assert {b1[0], b2[0]} <= names_b and not {b1[0], b2[0]} & names_a


def test_device_cannot_claim_another_tenant(env):
    cid, crt = _device(env, env.ca_a, "claim-b")
    tok = mint(*crt, cid, tenant="tenant-b")
    assert_refused(env.broker, cid, tok, "jwt.ten")
    r = explain(env.broker, tok)
    assert r.returncode != 0 and any(l.startswith("FAIL") and "jwt.ten" in l for l in r.stdout.splitlines()), \
        r.stdout
    # Claiming its own tenant is fine.
    connects(env.broker.port("mqtt"), cid, mint(*crt, cid, tenant="tenant-a")).close()
    assert cid in {a["name"] for a in env.broker.admin.agents("tenant-a")}


def test_client_id_bound_in_one_tenant_is_refused_in_another(env):
    cid, crt_a = _device(env, env.ca_a, "xt-bound")
    connects(env.broker.port("mqtt"), cid, mint(*crt_a, cid)).close()
    crt_b = env.pki.device("xt-intruder", unique_id("xt-intruder"), env.ca_b)
    assert_refused(env.broker, cid, mint(*crt_b, cid), {"binding.conflict", "tenant.mismatch"})
    assert cid not in {a["name"] for a in env.broker.admin.agents("tenant-b")}


def test_a_ca_belongs_to_one_tenant(env):
    admin = env.broker.admin
    code = admin.registration_code("tenant-b")
    ver = env.pki.verification(code, env.ca_a)
    status, doc = admin.upload_ca("tenant-b", Path(env.ca_a[0]).read_text(), Path(ver).read_text())
    assert status == 409, f"tenant B registered tenant A's CA: {status} {doc}"
    assert isinstance(doc, dict) and "error" in doc and "message" in doc, doc
    cas_b = admin.ok("GET", "/api/v1/tenants/tenant-b/cas", expect=200)["cas"]
    assert len(cas_b) == 1, cas_b


def test_tenant_token_reaches_its_tenant_only(env):
    admin = env.broker.admin
    tok = admin.ok("POST", "/api/v1/tenants/tenant-a/tokens", expect=201)["token"]
    status, doc = admin.request("GET", "/api/v1/tenants/tenant-a/agents", token=tok)
    assert status == 200 and "agents" in doc, (status, doc)
    status, doc = admin.request("GET", "/api/v1/tenants/tenant-b/agents", token=tok)
    assert status == 403, (status, doc)


def test_deleting_a_ca_disconnects_its_devices_and_refuses_them(env):
    b = env.broker
    admin = b.admin
    port = b.port("mqtt")
    ca_c = env.pki.ca("tenant-c-ca", "Tenant C CA")
    ca_doc = onboard(admin, env.pki, "tenant-c", ca_c)
    cid, crt = _device(env, ca_c, "revoke-c")
    tok = mint(*crt, cid)
    victim = paho_device(port, cid, tok)
    bystander_id, bystander_crt = _device(env, env.ca_a, "revoke-bystander")
    bystander = paho_device(port, bystander_id, mint(*bystander_crt, bystander_id))
    try:
        assert victim.subscribe("c/#") == [1]
        status, _ = admin.request("DELETE", f"/api/v1/tenants/tenant-c/cas/{ca_doc['id']}")
        assert status == 204, status
        t0 = time.monotonic()
        assert victim.wait_disconnected(3), "device still connected 3 s after its CA was deleted"
        assert time.monotonic() - t0 < 3
        assert not bystander.disconnected.is_set(), "another tenant's device was disconnected"
        bystander.publish("a/still-here", b"x", qos=1)
    finally:
        victim.close()
        bystander.close()
    assert all(c["id"] != ca_doc["id"] for c in admin.ok("GET", "/api/v1/tenants/tenant-c/cas")["cas"])
    assert_refused(b, cid, tok, {"x5c.no_tenant_ca", "x5c.chain"})
    # A device of that CA that never connected is refused too.
    cid2, crt2 = _device(env, ca_c, "revoke-c-new")
    assert_refused(b, cid2, mint(*crt2, cid2), {"x5c.no_tenant_ca", "x5c.chain"})
    r = explain(b, tok)
    assert r.returncode != 0, r.stdout


def test_anonymous_clients_are_listed_under_the_anonymous_tenant_before_it_is_created(tmp_path):
    # Anonymous clients belong to auth.anonymous_tenant (SPEC §4.2): an operator lists them
    # there whether or not a tenant of that name was created; writing to it needs it created.
    brokers = AuthBrokers(tmp_path)
    try:
        b = brokers(overrides={"listeners": [
            {"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]},
            {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"}],
            "auth": {"client_id": {"min_length": 0}}})
        cid = unique_id("anon-listed")
        c = connects(b.port(), cid, None, username=None)
        try:
            status, doc = b.admin.request("GET", "/api/v1/tenants/default/clients")
            assert status == 200 and [x["clientId"] for x in doc["clients"]] == [cid], (status, doc)
            assert b.admin.request("GET", "/api/v1/tenants/default/agents") == (200, {"agents": []})
            assert b.admin.ok("GET", "/api/v1/tenants", expect=200) == {"tenants": []}
            status, doc = b.admin.request("GET", "/api/v1/tenants/default/cas")
            assert (status, doc["error"]) == (404, "tenant.not_found"), doc
            status, doc = b.admin.request("POST", "/api/v1/tenants/default/registration-codes")
            assert (status, doc["error"]) == (404, "tenant.not_found"), doc
            # Another tenant's name still answers 404, and creating "default" keeps the list.
            status, doc = b.admin.request("GET", "/api/v1/tenants/nobody/clients")
            assert (status, doc["error"]) == (404, "tenant.not_found"), doc
            b.admin.create_tenant("default")
            doc = b.admin.ok("GET", "/api/v1/tenants/default/clients", expect=200)
            assert [x["clientId"] for x in doc["clients"]] == [cid], doc
        finally:
            c.close()
    finally:
        brokers.stop_all()


def test_auth_failure_ids_keep_increasing_across_a_restart(tmp_path):
    # The refusal ring is in memory, but a consumer that remembers the last id it saw must not
    # mistake new refusals after a restart for old ones.
    brokers = AuthBrokers(tmp_path)
    try:
        b = brokers()

        def refuse_and_read_ids():
            cid = unique_id("refused-id")
            rc, raw = attempt(b.port(), cid, "not-a-jwt")
            raw.close()
            assert rc == 0x04
            return [int(f["id"]) for f in b.admin.failures() if f["clientId"] == cid]

        (first,) = wait_until(lambda: refuse_and_read_ids() or None, 5, what="the refusal listed")
        b.restart()
        (second,) = wait_until(lambda: refuse_and_read_ids() or None, 5, what="the refusal listed")
        assert second > first, (first, second)
    finally:
        brokers.stop_all()
