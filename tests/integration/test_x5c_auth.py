"""Device authentication with x5c JWTs, end to end (SPEC §4.1, §4.3, §4.4, §5).

A tenant onboards its CA through the real admin API (registration code + verification
certificate), devices get certificates from `portcullis pki device` and tokens from
`portcullis token mint`; broken certificates and tokens are built with python
`cryptography`. Every refusal must look the same to the device (CONNACK 0x04, or 0x02 for
a client id of the wrong length, then the connection closes) while the operator sees the
stable reason code in the log, in /metrics and in GET /api/v1/auth-failures.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from authkit import (AUDIENCE, BEARER, DROP, Admin, AuthBrokers, Pki, assert_refused,
                     b64url, build_ca_cert, build_device_cert, claims_for, connects, der_b64,
                     explain, load_cert, load_key, make_jwt, mint, new_key, onboard, paho_device,
                     rs256, unique_id)
from broker_harness import wait_until
from mqtt_helpers import PINGREQ_PACKET, RawClient, connect_packet

DEV_DESCRIPTION = "Asset for agent provisioned automatically with X.509 certificates."


@dataclass
class Env:
    root: Path
    pki: Pki
    brokers: AuthBrokers
    broker: object                # the main daemon (defaults, disconnect_on_expiry true)
    ca: tuple                     # acme's registered root CA (cert path, key path)
    ca_cert: object
    ca_key: object
    inter: tuple                  # intermediate under acme's root (not registered itself)
    inter_cert: object
    inter_key: object
    dev_key: object               # one RSA key shared by the hand-built device certificates
    other: dict = field(default_factory=dict)

    def device(self, cn: str, issuer=None, **kw):
        """A hand-built, valid device certificate (shared key) issued by acme's root."""
        icert, ikey = issuer or (self.ca_cert, self.ca_key)
        cert, _ = build_device_cert(icert, ikey, cn, key=self.dev_key, **kw)
        return cert

    def token(self, client_id: str, cert=None, chain=None, key=None, **claim_over) -> str:
        """x5c = [cert, *chain]; the chain defaults to acme's registered root (SPEC §4.1: the
        chain contains the tenant CA)."""
        cert = cert if cert is not None else self.device(client_id)
        chain = (self.ca_cert,) if chain is None else chain
        return rs256([cert, *chain], claims_for(client_id, **claim_over), key or self.dev_key)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("x5c")
    brokers = AuthBrokers(root)
    try:
        b = brokers()
        pki = Pki(root / "pki")
        ca = pki.ca("acme-root", "Acme Root CA")
        onboard(b.admin, pki, "acme", ca)
        inter = pki.intermediate("acme-int", "Acme Issuing CA 1", ca)
        yield Env(root=root, pki=pki, brokers=brokers, broker=b, ca=ca, ca_cert=load_cert(ca[0]),
                  ca_key=load_key(ca[1]), inter=inter, inter_cert=load_cert(inter[0]),
                  inter_key=load_key(inter[1]), dev_key=new_key())
    finally:
        brokers.stop_all()


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))


def ping_ok(raw: RawClient, timeout: float = 3.0) -> bool:
    """The connection still serves: PINGREQ gets PINGRESP."""
    if not raw.try_send(PINGREQ_PACKET):
        return False
    try:
        while True:
            p = raw.read_packet(timeout)
            if p.type == 13:
                return True
    except Exception:
        return False


# ======================================================================================
# The happy path
# ======================================================================================
def test_valid_device_connects_publishes_subscribes_and_is_provisioned(env):
    b = env.broker
    port = b.port("mqtt")
    sub_id, pub_id = unique_id("dev-happy-sub"), unique_id("dev-happy-pub")
    sub_crt = env.pki.device("happy-sub", sub_id, env.ca)
    pub_crt = env.pki.device("happy-pub", pub_id, env.ca)
    sub = paho_device(port, sub_id, mint(*sub_crt, sub_id))
    pub = paho_device(port, pub_id, mint(*pub_crt, pub_id))
    try:
        assert sub.subscribe("plant/line1/#") == [1]
        pub.publish("plant/line1/temp", b"21.5", qos=1)
        pub.publish("plant/line1/rpm", b"1200", qos=0)
        got = sub.expect(2)
        assert sorted((m.topic, m.payload) for m in got) == [("plant/line1/rpm", b"1200"),
                                                             ("plant/line1/temp", b"21.5")]
    finally:
        sub.close()
        pub.close()

    agents = {a["name"]: a for a in b.admin.agents("acme")}
    for cid in (sub_id, pub_id):
        assert cid in agents, f"no agent named {cid}: {sorted(agents)}"
        a = agents[cid]
        asset = a.get("asset")
        assert isinstance(asset, dict), f"agent without asset: {a}"
        assert asset.get("name") == cid
        assert asset.get("assetType") == "core.mcX509"
        assert asset.get("description") == DEV_DESCRIPTION
        assert a.get("id") and a["id"] == asset.get("id"), f"agent id must be the asset id: {a}"
        assert a.get("securityProfile") == "CACertifiedX509"
        assert a.get("onboardingStatus") == "ONBOARDED"
        assert a.get("clientId") == cid
        assert f"CN={cid}" in a.get("subjectDn", ""), a
    # GET by id returns the same agent.
    a = agents[sub_id]
    status, one = b.admin.request("GET", f"/api/v1/tenants/acme/agents/{a['id']}")
    assert status == 200 and one["id"] == a["id"] and one["name"] == sub_id, (status, one)


def test_aud_as_string_and_no_nbf_are_accepted(env):
    cid = unique_id("dev-aud-string")
    raw = connects(env.broker.port("mqtt"), cid, env.token(cid, aud=AUDIENCE, nbf=DROP))
    raw.close()


def test_token_explain_passes_a_good_token(env):
    cid = unique_id("dev-explain-ok")
    crt = env.pki.device("explain-ok", cid, env.ca)
    tok = mint(*crt, cid)
    r = explain(env.broker, tok)
    assert r.returncode == 0, f"explain of a good token exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    assert "FAIL" not in r.stdout, r.stdout
    raw = connects(env.broker.port("mqtt"), cid, tok)
    raw.close()


# ======================================================================================
# Intermediate CAs
# ======================================================================================
def test_root_registered_device_under_intermediate_with_full_chain(env):
    cid = unique_id("dev-int-full")
    crt = env.pki.device("int-full", cid, env.inter)
    raw = connects(env.broker.port("mqtt"), cid, mint(*crt, cid, chain=[env.inter[0], env.ca[0]]))
    raw.close()


def test_registered_intermediate_partial_and_full_chain(env):
    b = env.broker
    root2 = env.pki.ca("inter-root", "Inter Root CA (not registered)")
    int2 = env.pki.intermediate("inter-int", "Inter Issuing CA", root2)
    onboard(b.admin, env.pki, "inter", int2)
    port = b.port("mqtt")
    cid1, cid2 = unique_id("dev-int2-partial"), unique_id("dev-int2-full")
    d1 = env.pki.device("int2-d1", cid1, int2)
    d2 = env.pki.device("int2-d2", cid2, int2)
    connects(port, cid1, mint(*d1, cid1, chain=[int2[0]])).close()                 # [device, intermediate]
    connects(port, cid2, mint(*d2, cid2, chain=[int2[0], root2[0]])).close()       # [device, int, root]
    names = {a["name"] for a in b.admin.agents("inter")}
    assert {cid1, cid2} <= names, names
    assert not {cid1, cid2} & {a["name"] for a in b.admin.agents("acme")}


# ======================================================================================
# Every refusal: CONNACK 0x04 (0x02 for the client id length), close, and the reason visible
# ======================================================================================
def _now():
    return dt.datetime.now(dt.timezone.utc)


def case_expired_device_cert(e, cid):
    cert = e.device(cid, not_before=_now() - dt.timedelta(days=30), not_after=_now() - dt.timedelta(days=1))
    return cid, e.token(cid, cert), BEARER


def case_not_yet_valid_device_cert(e, cid):
    cert = e.device(cid, not_before=_now() + dt.timedelta(days=1), not_after=_now() + dt.timedelta(days=30))
    return cid, e.token(cid, cert), BEARER


def case_v1_cert(e, cid):
    return cid, e.token(cid, e.device(cid, version=1)), BEARER


def case_no_key_usage(e, cid):
    return cid, e.token(cid, e.device(cid, key_usage=None)), BEARER


def case_key_usage_without_digital_signature(e, cid):
    return cid, e.token(cid, e.device(cid, key_usage="keyEncipherment")), BEARER


def case_no_aki(e, cid):
    return cid, e.token(cid, e.device(cid, aki=False)), BEARER


def case_empty_subject(e, cid):
    # Nothing in seed 000's list, but the client id is bound to the subject: an empty one names
    # nobody (it was refused as "internal" by the store before it had a rule of its own).
    return cid, e.token(cid, e.device(cid, empty_subject=True)), BEARER


def _header(e, cid, **over):
    h = {"alg": "RS256", "typ": "JWT", "x5c": [der_b64(e.device(cid))]}
    h.update(over)
    return h


def case_alg_none(e, cid):
    return cid, make_jwt(_header(e, cid, alg="none"), claims_for(cid), signature=b""), BEARER


def case_alg_hs256(e, cid):
    # The classic confusion attack: HMAC keyed with the device certificate's public key.
    cert = e.device(cid)
    header = {"alg": "HS256", "typ": "JWT", "x5c": [der_b64(cert)]}
    h = b64url(json.dumps(header).encode())
    p = b64url(json.dumps(claims_for(cid)).encode())
    from cryptography.hazmat.primitives import serialization
    secret = cert.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return cid, f"{h}.{p}.{b64url(sig)}", BEARER


def case_alg_rs512(e, cid):
    return cid, make_jwt(_header(e, cid, alg="RS512"), claims_for(cid), e.dev_key), BEARER


def case_typ_not_jwt(e, cid):
    return cid, make_jwt(_header(e, cid, typ="JOSE"), claims_for(cid), e.dev_key), BEARER


def case_wrong_aud(e, cid):
    return cid, e.token(cid, aud=["SomeOtherBroker"]), BEARER


def case_exp_passed(e, cid):
    now = int(time.time())
    return cid, e.token(cid, iat=now - 1000, nbf=now - 1000, exp=now - 300), BEARER


def case_lifetime_over_3600(e, cid):
    now = int(time.time())
    return cid, e.token(cid, iat=now, nbf=now, exp=now + 3601), BEARER


def case_iat_in_future(e, cid):
    now = int(time.time())
    return cid, e.token(cid, iat=now + 600, nbf=DROP, exp=now + 1200), BEARER


def case_nbf_in_future(e, cid):
    return cid, e.token(cid, nbf=int(time.time()) + 600), BEARER


def case_iss_not_client_id(e, cid):
    return cid, e.token(cid, iss="someone-else-000000"), BEARER


def case_sub_not_client_id(e, cid):
    return cid, e.token(cid, sub="someone-else-000000"), BEARER


def case_jti_missing(e, cid):
    return cid, e.token(cid, jti=DROP), BEARER


def case_jti_too_long(e, cid):
    return cid, e.token(cid, jti="x" * 37), BEARER


def case_wrong_schemas(e, cid):
    return cid, e.token(cid, schemas=["urn:example:v2"]), BEARER


def case_ten_mismatch(e, cid):
    return cid, e.token(cid, ten="some-other-tenant"), BEARER


def case_ten_too_long(e, cid):
    return cid, e.token(cid, ten="a" * 37), BEARER


def case_ten_missing(e, cid):
    # Seed 000 marks only nbf optional; a device without a tenant sends "ten": "".
    return cid, e.token(cid, ten=DROP), BEARER


def case_chain_of_four_with_the_ca_left_out(e, cid):
    # x5c = [device, sub-intermediate, intermediate]: three certificates, none of them the
    # registered root, which would be the fourth in the chain. The tenant CA must be in x5c
    # or directly above at most two certificates.
    if "sub" not in e.other:
        e.other["sub"] = build_ca_cert("Acme Issuing CA 2", key=e.dev_key, issuer=(e.inter_cert, e.inter_key))
    scert, skey = e.other["sub"]
    return cid, rs256([e.device(cid, issuer=(scert, skey)), scert, e.inter_cert], claims_for(cid), e.dev_key), BEARER


def case_device_only_without_the_tenant_ca(e, cid):
    # SPEC §4.1: "the chain contains a CA certificate currently registered for a tenant". The
    # device certificate alone, though acme's registered root issued it, does not.
    return cid, e.token(cid, chain=()), BEARER


def case_intermediate_without_the_registered_root(e, cid):
    # [device, intermediate]: the registered root above them is not in the chain.
    cert = e.device(cid, issuer=(e.inter_cert, e.inter_key))
    return cid, e.token(cid, cert, chain=(e.inter_cert,)), BEARER


def case_tenant_ca_as_the_device(e, cid):
    # The registered CA itself, signed with its own key: a device certificate is issued by a
    # tenant CA, never one.
    return cid, rs256([e.ca_cert], claims_for(cid), e.ca_key), BEARER


def case_x5c_four_certs(e, cid):
    chain = [e.device(cid, issuer=(e.inter_cert, e.inter_key)), e.inter_cert, e.ca_cert, e.ca_cert]
    return cid, rs256(chain, claims_for(cid), e.dev_key), BEARER


def case_x5c_missing(e, cid):
    return cid, make_jwt({"alg": "RS256", "typ": "JWT"}, claims_for(cid), e.dev_key), BEARER


def case_x5c_out_of_order(e, cid):
    chain = [e.device(cid, issuer=(e.inter_cert, e.inter_key)), e.ca_cert, e.inter_cert]
    return cid, rs256(chain, claims_for(cid), e.dev_key), BEARER


def case_chain_to_unregistered_ca(e, cid):
    if "rogue" not in e.other:
        e.other["rogue"] = build_ca_cert("Rogue CA", key=e.dev_key)
    rcert, rkey = e.other["rogue"]
    cert = e.device(cid, issuer=(rcert, rkey))
    return cid, rs256([cert, rcert], claims_for(cid), e.dev_key), BEARER


def case_forged_issuer_signature(e, cid):
    # Names acme's CA as issuer (and its key id as AKI) but is signed by another key.
    if "forger" not in e.other:
        e.other["forger"] = build_ca_cert("Acme Root CA", key=e.dev_key)
    fcert, fkey = e.other["forger"]
    cert, _ = build_device_cert(e.ca_cert, fkey, cid, key=e.dev_key)
    return cid, rs256([cert], claims_for(cid), e.dev_key), BEARER


def case_device_cert_signed_with_sha1(e, cid):
    # A collision-broken hash in the issuer's signature: a forged twin certificate could carry it.
    return cid, e.token(cid, cert=e.device(cid, digest=hashes.SHA1())), BEARER


def case_device_cert_signed_with_md5(e, cid):
    return cid, e.token(cid, cert=e.device(cid, digest=hashes.MD5())), BEARER


def case_intermediate_missing_from_x5c(e, cid):
    # Issued by the intermediate, but x5c holds the device certificate only.
    cert = e.device(cid, issuer=(e.inter_cert, e.inter_key))
    return cid, rs256([cert], claims_for(cid), e.dev_key), BEARER


def case_signed_by_another_key(e, cid):
    if "other_key" not in e.other:
        e.other["other_key"] = new_key()
    return cid, e.token(cid, key=e.other["other_key"]), BEARER


def case_tampered_claims(e, cid):
    tok = e.token(cid)
    h, p, s = tok.split(".")
    claims = claims_for(cid)
    claims["ten"] = "acme"
    return cid, f"{h}.{b64url(json.dumps(claims).encode())}.{s}", BEARER


def case_wrong_username(e, cid):
    return cid, e.token(cid), "admin"


def case_not_a_jwt(e, cid):
    return cid, "this-is-not-a-jwt", BEARER


def case_client_id_15(e, cid):
    cid = "short-client-15"
    assert len(cid) == 15
    return cid, e.token(cid), BEARER


def case_client_id_129(e, cid):
    cid = ("long-client-" + "x" * 200)[:129]
    return cid, e.token(cid), BEARER


REFUSALS = [
    # (case, acceptable reason codes, CONNACK code, token explain applies)
    (case_expired_device_cert, {"x5c.expired"}, 0x04, True),
    (case_not_yet_valid_device_cert, {"x5c.expired"}, 0x04, True),
    (case_v1_cert, {"cert.version"}, 0x04, True),
    (case_no_key_usage, {"cert.key_usage"}, 0x04, True),
    (case_key_usage_without_digital_signature, {"cert.key_usage"}, 0x04, True),
    (case_no_aki, {"cert.aki"}, 0x04, True),
    (case_empty_subject, {"cert.subject"}, 0x04, True),
    (case_alg_none, {"jwt.alg"}, 0x04, True),
    (case_alg_hs256, {"jwt.alg"}, 0x04, True),
    (case_alg_rs512, {"jwt.alg"}, 0x04, True),
    (case_typ_not_jwt, {"jwt.typ"}, 0x04, True),
    (case_wrong_aud, {"jwt.aud"}, 0x04, True),
    (case_exp_passed, {"jwt.exp"}, 0x04, True),
    (case_lifetime_over_3600, {"jwt.lifetime"}, 0x04, True),
    (case_iat_in_future, {"jwt.iat"}, 0x04, True),
    (case_nbf_in_future, {"jwt.nbf"}, 0x04, True),
    (case_iss_not_client_id, {"jwt.iss"}, 0x04, True),
    (case_sub_not_client_id, {"jwt.sub"}, 0x04, True),
    (case_jti_missing, {"jwt.jti"}, 0x04, True),
    (case_jti_too_long, {"jwt.jti"}, 0x04, True),
    (case_wrong_schemas, {"jwt.schemas"}, 0x04, True),
    (case_ten_mismatch, {"jwt.ten"}, 0x04, True),
    (case_ten_too_long, {"jwt.ten"}, 0x04, True),
    (case_ten_missing, {"jwt.ten"}, 0x04, True),
    (case_chain_of_four_with_the_ca_left_out, {"x5c.no_tenant_ca"}, 0x04, True),
    (case_device_only_without_the_tenant_ca, {"x5c.no_tenant_ca"}, 0x04, True),
    (case_intermediate_without_the_registered_root, {"x5c.no_tenant_ca"}, 0x04, True),
    (case_tenant_ca_as_the_device, {"x5c.no_tenant_ca"}, 0x04, True),
    (case_x5c_four_certs, {"jwt.x5c"}, 0x04, True),
    (case_x5c_missing, {"jwt.x5c"}, 0x04, True),
    (case_x5c_out_of_order, {"x5c.order"}, 0x04, True),
    (case_chain_to_unregistered_ca, {"x5c.no_tenant_ca", "x5c.chain"}, 0x04, True),
    (case_forged_issuer_signature, {"x5c.chain", "x5c.no_tenant_ca"}, 0x04, True),
    (case_device_cert_signed_with_sha1, {"x5c.chain"}, 0x04, True),
    (case_device_cert_signed_with_md5, {"x5c.chain"}, 0x04, True),
    (case_intermediate_missing_from_x5c, {"x5c.no_tenant_ca", "x5c.chain"}, 0x04, True),
    (case_signed_by_another_key, {"jwt.signature"}, 0x04, True),
    (case_tampered_claims, {"jwt.signature"}, 0x04, True),
    (case_wrong_username, {"auth.username"}, 0x04, False),
    (case_not_a_jwt, {"jwt.format"}, 0x04, True),
    (case_client_id_15, {"client_id.length"}, 0x02, True),
    (case_client_id_129, {"client_id.length"}, 0x02, True),
]


REASONS_OF = {case: reasons for case, reasons, _, _ in REFUSALS}


@pytest.mark.parametrize("case,reasons,code,explainable", REFUSALS,
                         ids=[c[0].__name__[5:] for c in REFUSALS])
def test_refusal_is_uniform_for_the_device_and_explained_to_the_operator(env, case, reasons, code,
                                                                           explainable):
    cid, password, username = case(env, unique_id("bad-" + case.__name__[5:20].replace("_", "-")))
    seen = assert_refused(env.broker, cid, password, reasons, code=code, username=username)
    assert not any(a["name"] == cid for a in env.broker.admin.agents("acme")), "refused device got an agent"
    if explainable:
        r = explain(env.broker, password, client_id=cid)
        assert r.returncode != 0, f"explain accepted a refused token ({seen}):\n{r.stdout}"
        fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
        assert any(l.split()[1] == seen for l in fails if len(l.split()) > 1), \
            f"explain does not name {seen} with FAIL:\n{r.stdout}\n{r.stderr}"


def test_a_refused_device_issued_under_the_tenant_ca_is_listed_to_that_tenant(env):
    # GET /api/v1/auth-failures lists "tenant if known": whatever rule a device of acme's broke
    # (its certificate, the token header, a claim), acme's admin sees the refusal. Signatures
    # decide: a chain that only names or carries acme's CA is nobody's.
    admin = env.broker.admin
    status, doc = admin.request("POST", "/api/v1/tenants/acme/tokens")
    assert status == 201, (status, doc)
    acme_admin = Admin(env.broker.port("admin"), doc["token"])
    for case in (case_expired_device_cert, case_no_key_usage, case_v1_cert, case_empty_subject, case_alg_rs512,
                 case_typ_not_jwt, case_exp_passed, case_device_only_without_the_tenant_ca):
        cid, password, username = case(env, unique_id("attr-" + case.__name__[5:17].replace("_", "-")))
        seen = assert_refused(env.broker, cid, password, REASONS_OF[case], username=username)
        mine = [f for f in acme_admin.failures() if f.get("clientId") == cid]
        assert mine and mine[0]["tenant"] == "acme" and mine[0]["reason"] == seen, (case.__name__, mine)
    for case in (case_chain_to_unregistered_ca, case_forged_issuer_signature, case_tenant_ca_as_the_device):
        cid, password, username = case(env, unique_id("noattr-" + case.__name__[5:15].replace("_", "-")))
        assert_refused(env.broker, cid, password, REASONS_OF[case], username=username)
        everyone = [f for f in admin.failures() if f.get("clientId") == cid]
        assert everyone and everyone[0]["tenant"] == "", (case.__name__, everyone)
        assert not [f for f in acme_admin.failures() if f.get("clientId") == cid], case.__name__


def test_explain_reports_the_failing_rule_for_a_minted_token_with_wrong_tenant(env):
    cid = unique_id("dev-explain-ten")
    crt = env.pki.device("explain-ten", cid, env.ca)
    tok = mint(*crt, cid, tenant="not-acme")
    r = explain(env.broker, tok)
    assert r.returncode != 0
    assert any(l.startswith("FAIL") and "jwt.ten" in l for l in r.stdout.splitlines()), r.stdout
    assert_refused(env.broker, cid, tok, "jwt.ten")
    # The same device with the right tenant claim is fine.
    connects(env.broker.port("mqtt"), cid, mint(*crt, cid, tenant="acme")).close()


# ======================================================================================
# Binding of client id and certificate subject
# ======================================================================================
def test_binding_client_id_to_subject(env):
    b = env.broker
    port = b.port("mqtt")
    cid = unique_id("dev-bind-first")
    first = env.pki.device("bind-first", cid, env.ca)
    second = env.pki.device("bind-second", unique_id("dev-bind-second"), env.ca)
    original = mint(*first, cid)
    connects(port, cid, original).close()

    # Another subject with the bound client id.
    stolen = mint(*second, cid)
    assert_refused(b, cid, stolen, "binding.conflict")
    # The bound subject with another (new) client id.
    other_cid = unique_id("dev-bind-other")
    assert_refused(b, other_cid, mint(*first, other_cid), "binding.conflict")
    # token explain reads the bindings from the store too: it says which rule breaks.
    r = explain(b, stolen, client_id=cid)
    assert r.returncode == 1 and "FAIL  binding.conflict" in r.stdout, r.stdout
    r = explain(b, original, client_id=cid)
    assert r.returncode == 0 and "PASS  binding.conflict" in r.stdout, r.stdout
    assert not any(a["name"] == other_cid for a in b.admin.agents("acme"))

    # The original device still connects, with the old token and with a re-minted one.
    connects(port, cid, original).close()
    connects(port, cid, mint(*first, cid, lifetime=600)).close()
    assert sum(1 for a in b.admin.agents("acme") if a["name"] == cid) == 1


def test_a_reconnect_with_the_same_token_is_answered_from_the_cache_without_rsa(env):
    """A device reconnecting with the token it has (as Paho's automatic reconnect does) is
    answered from the chain cache with no RSA operation, counted in /metrics; a new token is
    verified, and the remembered token's header and payload under any other signature are
    refused."""
    b = env.broker
    port = b.port("mqtt")
    cid = unique_id("dev-repeat")
    crt = env.pki.device("repeat", cid, env.ca)
    token = mint(*crt, cid)
    names = ("portcullis_auth_cache_hits_total", "portcullis_auth_cache_misses_total",
             "portcullis_auth_repeated_tokens_total")
    before = {n: b.metric(n) for n in names}
    connects(port, cid, token).close()            # validated on the pool: a miss
    connects(port, cid, token).close()            # the same token: a hit, no RSA operation
    newer = mint(*crt, cid)
    assert newer != token
    connects(port, cid, newer).close()            # a hit, its signature verified
    head, payload, _ = token.split(".")
    assert_refused(b, cid, f"{head}.{payload}.{newer.split('.')[2]}", "jwt.signature")
    connects(port, cid, newer).close()            # now newer is the remembered one
    delta = {n: b.metric(n) - before[n] for n in names}
    assert delta == {"portcullis_auth_cache_hits_total": 4, "portcullis_auth_cache_misses_total": 1,
                     "portcullis_auth_repeated_tokens_total": 2}, delta
    assert b.metric("portcullis_auth_cache_entries") >= 1


def test_simultaneous_first_connects_with_the_same_new_client_id(env):
    port = env.broker.port("mqtt")
    for round_no in range(4):
        cid = unique_id(f"dev-race-{round_no}")
        tokens = [env.token(cid, env.device(f"race-{round_no}-{side}-{cid}"))
                  for side in ("a", "b")]
        barrier = threading.Barrier(2)
        results: list = [None, None]
        clients: list = [None, None]

        def go(i):
            raw = RawClient(port)
            clients[i] = raw
            barrier.wait(5)
            raw.send(connect_packet(cid, username=BEARER, password=tokens[i]))
            p = raw.read_packet(10)
            results[i] = p.body[1] if p.type == 2 else ("type", p.type)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        try:
            assert sorted(results, key=str) == [0, 4], f"round {round_no}: CONNACKs {results}"
            loser = clients[results.index(4)]
            assert loser.wait_closed(5), "refused connection not closed"
            winner = clients[results.index(0)]
            assert ping_ok(winner), "the winner's connection does not serve"
        finally:
            for c in clients:
                if c:
                    c.close()
        agents = [a for a in env.broker.admin.agents("acme") if a["name"] == cid]
        assert len(agents) == 1, f"round {round_no}: {len(agents)} agents for {cid}"


# ======================================================================================
# Token expiry
# ======================================================================================
def test_disconnect_on_expiry(env):
    """exp = now + 3 s: with disconnect_on_expiry (default true) the connection closes shortly
    after exp; on a daemon with it off the same kind of connection stays."""
    keep = env.brokers(extra={"auth": {"x5c_jwt": {"disconnect_on_expiry": False}}})
    onboard(keep.admin, env.pki, "acme", env.ca)
    cid_a, cid_b = unique_id("dev-expiry-on"), unique_id("dev-expiry-off")
    dev_a = env.pki.device("expiry-on", cid_a, env.ca)
    dev_b = env.pki.device("expiry-off", cid_b, env.ca)
    # Mint right before connecting: the tokens live 3 s.
    tok_a = mint(*dev_a, cid_a, lifetime=3)
    on = connects(env.broker.port("mqtt"), cid_a, tok_a)
    tok_b = mint(*dev_b, cid_b, lifetime=3)
    off = connects(keep.port("mqtt"), cid_b, tok_b)
    exp_a, exp_b = _claims(tok_a)["exp"], _claims(tok_b)["exp"]
    try:
        if time.time() < exp_a - 1:
            assert ping_ok(on, timeout=0.8), "closed before its token expired"
        # Closed shortly after exp (allow 5 s of slack after exp).
        deadline = exp_a + 5 - time.time()
        assert on.wait_closed(max(deadline, 0.1)), \
            f"connection still open {time.time() - exp_a:.1f} s after its token expired"
        closed_at = time.time()
        assert closed_at >= exp_a - 1, f"closed {exp_a - closed_at:.1f} s before exp"
        # The other daemon keeps its connection past exp.
        wait_until(lambda: time.time() > exp_b + 3, 10, interval=0.2, what="exp + 3 s")
        assert ping_ok(off), "connection closed at token expiry although disconnect_on_expiry is false"
    finally:
        on.close()
        off.close()


# ======================================================================================
# Agent quota
# ======================================================================================
def test_agent_quota(env):
    q = env.brokers(extra={"auth": {"provisioning": {"agents_per_tenant": 3}}})
    onboard(q.admin, env.pki, "acme", env.ca)
    port = q.port("mqtt")
    ids = [unique_id(f"dev-quota-{i}") for i in range(4)]
    certs = [env.device(f"quota-{i}-{cid}") for i, cid in enumerate(ids)]
    for cid, cert in zip(ids[:3], certs[:3]):
        connects(port, cid, env.token(cid, cert)).close()
    assert_refused(q, ids[3], env.token(ids[3], certs[3]), "quota.agents")
    r = explain(q, env.token(ids[3], certs[3]), client_id=ids[3])
    assert r.returncode == 1 and "FAIL  quota.agents" in r.stdout, r.stdout
    # An existing agent still connects.
    connects(port, ids[1], env.token(ids[1], certs[1])).close()
    assert sorted(a["name"] for a in q.admin.agents("acme")) == sorted(ids[:3])


# ======================================================================================
# Restart keeps bindings and agents
# ======================================================================================
def test_restart_keeps_bindings_and_agents(env):
    r = env.brokers()
    onboard(r.admin, env.pki, "acme", env.ca)
    cid = unique_id("dev-restart")
    mine = env.device(f"restart-mine-{cid}")
    theirs = env.device(f"restart-theirs-{cid}")
    connects(r.port("mqtt"), cid, env.token(cid, mine)).close()
    before = sorted((a["id"], a["name"], a["asset"]["id"]) for a in r.admin.agents("acme"))
    assert [x[1] for x in before] == [cid]

    r.restart()
    port = r.port("mqtt")
    assert_refused(r, cid, env.token(cid, theirs), "binding.conflict")
    other = unique_id("dev-restart-other")
    assert_refused(r, other, env.token(other, mine), "binding.conflict")
    connects(port, cid, env.token(cid, mine)).close()
    after = sorted((a["id"], a["name"], a["asset"]["id"]) for a in r.admin.agents("acme"))
    assert after == before


def test_agents_list_pages_in_order(env):
    # A fleet's agent list in pages: ?limit=n, then ?after=<next> while "next" is given; the
    # pages put together are the whole list, in the same order.
    admin = env.broker.admin
    for i in range(3):
        cid = unique_id(f"paged-{i}")
        connects(env.broker.port(), cid, env.token(cid)).close()
    whole = admin.agents("acme")
    assert len(whole) >= 3
    pages, after = [], None
    while True:
        q = "?limit=2" + (f"&after={after}" if after else "")
        doc = admin.ok("GET", f"/api/v1/tenants/acme/agents{q}", expect=200)
        assert 1 <= len(doc["agents"]) <= 2, doc
        pages.extend(doc["agents"])
        after = doc.get("next")
        if after is None:
            break
        assert after == doc["agents"][-1]["id"], doc
    assert [a["id"] for a in pages] == [a["id"] for a in whole]
    assert "next" not in admin.ok("GET", "/api/v1/tenants/acme/agents", expect=200)
    for bad in ("0", "-1", "x", "10001"):
        status, doc = admin.request("GET", f"/api/v1/tenants/acme/agents?limit={bad}")
        assert (status, doc["error"]) == (400, "field.invalid"), (bad, doc)
    status, doc = admin.request("GET", "/api/v1/tenants/acme/agents?limit=2&after=no-such-agent")
    assert (status, doc["error"]) == (400, "field.invalid") and "after" in doc["message"], doc
