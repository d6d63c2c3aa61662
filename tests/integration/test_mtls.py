"""TLS listeners and mTLS device authentication (SPEC §2 SIGHUP, §3 tls, §4.2).

The listener "mqtts" has tls {client_certs: "optional"} and auth ["x5c-jwt", "mtls"]: a
device presenting a client certificate from its tenant's CA with client id == CN connects
without a password; without a client certificate it can still use an x5c JWT. The listener
"mqtts_req" has client_certs "required": no client certificate, no TLS session. SIGHUP
reloads the server certificate files.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from authkit import (AuthBrokers, Pki, TlsRawClient, assert_refused, auth_overrides, build_device_cert, connects,
                     load_cert, load_key, mint, onboard, unique_id, write_pem)
from broker_harness import wait_until
from mqtt_helpers import Closed, PahoClient, connect_packet

# paho 1.6 builds its context with ssl.PROTOCOL_TLS, which Python 3.11 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")


@dataclass
class Env:
    root: Path
    pki: Pki
    broker: object
    server_ca: tuple
    server_crt: Path
    server_key: Path
    tenant_ca: tuple


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtls")
    pki = Pki(root / "pki")
    server_ca = pki.ca("server-ca", "Portcullis Test Server CA")
    srv = pki.server("server-1", "portcullis-server-one", server_ca)
    tls_dir = root / "tls"
    tls_dir.mkdir()
    server_crt, server_key = tls_dir / "server.crt", tls_dir / "server.key"
    shutil.copyfile(srv[0], server_crt)
    shutil.copyfile(srv[1], server_key)
    os.chmod(server_key, 0o600)
    tls = {"cert": str(server_crt), "key": str(server_key)}
    cfg = auth_overrides()
    cfg["listeners"] = [
        {"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt", "mtls"],
         "tls": {**tls, "client_certs": "optional"}},
        {"name": "mqtts_req", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt", "mtls"],
         "tls": {**tls, "client_certs": "required"}},
        {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"},
    ]
    brokers = AuthBrokers(root)
    try:
        b = brokers(overrides=cfg)
        tenant_ca = pki.ca("tenant-ca", "mTLS Tenant CA")
        onboard(b.admin, pki, "plant", tenant_ca)
        yield Env(root, pki, b, server_ca, server_crt, server_key, tenant_ca)
    finally:
        brokers.stop_all()


def client_ctx(env, cert=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=env.server_ca[0])
    ctx.check_hostname = False   # the server certificate names localhost / 127.0.0.1
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def mtls_paho(env, listener: str, client_id: str, cert) -> PahoClient:
    c = PahoClient(env.broker.port(listener), client_id)
    c.client.tls_set(ca_certs=env.server_ca[0], certfile=cert[0], keyfile=cert[1])
    return c


def test_mtls_device_connects_and_is_provisioned(env):
    cid = unique_id("mtls-device")
    dev = env.pki.device("mtls-ok", cid, env.tenant_ca, client_auth=True)
    c = mtls_paho(env, "mqtts", cid, dev)
    try:
        rc, _ = c.connect()
        assert rc == 0, f"CONNACK {rc} for an mTLS device with client id == CN"
        assert c.subscribe("cell/#") == [1]
        c.publish("cell/7/state", b"running", qos=1)
        (m,) = c.expect(1)
        assert m.payload == b"running"
    finally:
        c.close()
    agents = {a["name"]: a for a in env.broker.admin.agents("plant")}
    assert cid in agents, sorted(agents)
    a = agents[cid]
    assert a["asset"]["assetType"] == "core.mcX509" and a["id"] == a["asset"]["id"]
    assert a["securityProfile"] == "CACertifiedX509" and a["onboardingStatus"] == "ONBOARDED"


def test_mtls_client_id_must_equal_cn(env):
    cn = unique_id("mtls-cn")
    dev = env.pki.device("mtls-cn", cn, env.tenant_ca, client_auth=True)
    other = unique_id("mtls-not-the-cn")
    assert_refused(env.broker, other, None, "mtls.cn_mismatch", username=None, listener="mqtts",
                   tls=client_ctx(env, dev))
    assert other not in {a["name"] for a in env.broker.admin.agents("plant")}


def test_mtls_client_cert_from_unregistered_ca_is_refused(env):
    rogue = env.pki.ca("rogue-ca", "Rogue CA")
    cid = unique_id("mtls-rogue")
    dev = env.pki.device("mtls-rogue", cid, rogue, client_auth=True)
    assert_refused(env.broker, cid, None, "mtls.chain", username=None, listener="mqtts",
                   tls=client_ctx(env, dev))


def test_mtls_client_cert_signed_with_sha1_is_refused(env, tmp_path):
    # The tenant's CA signed with SHA-1 (collision-forgeable): the handshake completes (the
    # refusal is the broker's, with a reason), the device gets CONNACK 0x04 and no agent.
    cid = unique_id("mtls-sha1")
    cert, key = build_device_cert(load_cert(env.tenant_ca[0]), load_key(env.tenant_ca[1]), cid,
                                  digest=hashes.SHA1())
    crt, key_path = write_pem(tmp_path / "sha1.crt", cert, key)
    ctx = client_ctx(env)
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")  # so this client's OpenSSL loads a SHA-1 certificate at all
    ctx.load_cert_chain(crt, key_path)
    assert_refused(env.broker, cid, None, "mtls.chain", username=None, listener="mqtts", tls=ctx)
    assert cid not in {a["name"] for a in env.broker.admin.agents("plant")}


def test_jwt_without_client_cert_on_the_tls_listener(env):
    cid = unique_id("tls-jwt-device")
    dev = env.pki.device("tls-jwt", cid, env.tenant_ca)
    tok = mint(*dev, cid)
    connects(env.broker.port("mqtts"), cid, tok, tls=client_ctx(env)).close()
    assert cid in {a["name"] for a in env.broker.admin.agents("plant")}
    # Neither a client certificate nor the bearer username: refused.
    cid2 = unique_id("tls-nothing")
    assert_refused(env.broker, cid2, None, {"auth.username", "mtls.no_certificate"}, username=None,
                   listener="mqtts", tls=client_ctx(env))


def test_required_client_certs_admit_only_certificates_of_a_tenant_ca_whatever_authenticates(env):
    """client_certs "required": the TLS client certificate must chain to a registered tenant CA
    even when the device authenticates with an x5c token (its CN need not be the client id);
    a certificate of an unregistered CA is refused as mtls.chain, the valid token
    notwithstanding."""
    cid = unique_id("req-jwt-device")
    tok = mint(*env.pki.device("req-jwt", cid, env.tenant_ca), cid)
    rogue = env.pki.ca("req-rogue-ca", "Required Rogue CA")
    untrusted = env.pki.device("req-untrusted", unique_id("req-untrusted"), rogue, client_auth=True)
    assert_refused(env.broker, cid, tok, "mtls.chain", listener="mqtts_req", tls=client_ctx(env, untrusted))
    assert cid not in {a["name"] for a in env.broker.admin.agents("plant")}
    # The same token with a certificate of the tenant's CA (another device's): admitted by x5c.
    trusted = env.pki.device("req-trusted", unique_id("req-trusted"), env.tenant_ca, client_auth=True)
    connects(env.broker.port("mqtts_req"), cid, tok, tls=client_ctx(env, trusted)).close()
    assert cid in {a["name"] for a in env.broker.admin.agents("plant")}
    # mtls itself on the required listener: the certificate is the credential.
    dev_id = unique_id("req-mtls-device")
    dev = env.pki.device("req-mtls", dev_id, env.tenant_ca, client_auth=True)
    rc, raw = _mtls_connect(env.broker.port("mqtts_req"), dev_id, client_ctx(env, dev))
    raw.close()
    assert rc == 0


@pytest.mark.parametrize("suite", ["AES128-SHA", "AES256-GCM-SHA384", "AES128-SHA256"])
def test_tls12_suites_without_forward_secrecy_are_refused(env, suite):
    """Static-RSA key exchange: a leaked server key would decrypt every recorded session."""
    ctx = client_ctx(env)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(suite)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        TlsRawClient(env.broker.port("mqtts"), ctx).close()
    assert env.broker.is_running()


def test_required_client_certs_refuse_the_tls_session_without_one(env):
    port = env.broker.port("mqtts_req")
    failed_how = None
    try:
        raw = TlsRawClient(port, client_ctx(env))
    except (ssl.SSLError, ConnectionError, OSError) as e:
        failed_how = f"handshake: {e!r}"
    else:
        # TLS 1.3: the client finishes its side before the server's alert arrives.
        try:
            raw.try_send(connect_packet(unique_id("tls-req-none"), username="x", password="y"))
            p = raw.read_packet(5)
            pytest.fail(f"the required-cert listener answered a client without certificate: packet {p.type}")
        except Closed:
            failed_how = f"closed after handshake: {getattr(raw, 'tls_error', 'EOF')!r}"
        finally:
            raw.close()
    assert failed_how
    # With a client certificate the same listener serves.
    cid = unique_id("tls-req-device")
    dev = env.pki.device("tls-req", cid, env.tenant_ca, client_auth=True)
    c = mtls_paho(env, "mqtts_req", cid, dev)
    try:
        assert c.connect()[0] == 0
    finally:
        c.close()


def _peer_cert(env, port) -> dict:
    ctx = client_ctx(env)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert()


def _cn(cert: dict) -> str:
    for rdn in cert["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return ""


def test_sighup_reloads_the_server_certificate(env):
    b = env.broker
    port = b.port("mqtts")
    before = _peer_cert(env, port)
    assert _cn(before) == "portcullis-server-one", before

    # A device connected before the reload stays connected.
    cid = unique_id("mtls-across-hup")
    dev = env.pki.device("mtls-hup", cid, env.tenant_ca, client_auth=True)
    c = mtls_paho(env, "mqtts", cid, dev)
    try:
        assert c.connect()[0] == 0
        new = env.pki.server("server-2", "portcullis-server-two", env.server_ca)
        new_serial = format(load_cert(new[0]).serial_number, "X")
        for src, dst in ((new[1], env.server_key), (new[0], env.server_crt)):
            tmp = Path(str(dst) + ".new")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        os.kill(b.pid, signal.SIGHUP)

        def reloaded():
            cert = _peer_cert(env, port)
            return cert if _cn(cert) == "portcullis-server-two" else None

        after = wait_until(reloaded, 5, interval=0.1, what="the new server certificate after SIGHUP")
        assert after["serialNumber"].lstrip("0") == new_serial.lstrip("0"), (after["serialNumber"], new_serial)
        assert after["serialNumber"] != before["serialNumber"]
        # The required-cert listener uses the same files.
        assert _cn(_peer_cert_with_client(env, b.port("mqtts_req"), dev)) == "portcullis-server-two"
        assert b.is_running()
        assert not c.disconnected.is_set(), "SIGHUP dropped an established connection"
        c.publish("hup/still", b"ok", qos=1)
    finally:
        c.close()


def test_sighup_with_a_certificate_that_is_not_a_file_keeps_serving(env):
    # A directory (reading it threw from the stream library and ended the daemon) or a FIFO
    # (opening it blocked the thread that accepts connections) in place of the certificate:
    # the reload is refused and the listener keeps its files.
    b = env.broker
    port = b.port("mqtts")
    served = _peer_cert(env, port)["serialNumber"]
    saved = Path(str(env.server_crt) + ".saved")
    shutil.copyfile(env.server_crt, saved)
    try:
        for n, make in enumerate((os.mkdir, os.mkfifo), start=1):
            os.remove(env.server_crt)
            make(env.server_crt)
            os.kill(b.pid, signal.SIGHUP)
            wait_until(lambda: b.log_text().count("is not a regular file") >= n or None, 5,
                       what="the refused reload logged")
            assert b.is_running()
            assert _peer_cert(env, port)["serialNumber"] == served  # new connections, old files
            if os.path.isdir(env.server_crt):
                os.rmdir(env.server_crt)
            else:
                os.remove(env.server_crt)
            shutil.copyfile(saved, env.server_crt)
    finally:
        if not os.path.isfile(env.server_crt):
            if os.path.isdir(env.server_crt):
                os.rmdir(env.server_crt)
            elif os.path.exists(env.server_crt):
                os.remove(env.server_crt)
            shutil.copyfile(saved, env.server_crt)
        saved.unlink()


def _peer_cert_with_client(env, port, dev) -> dict:
    ctx = client_ctx(env, dev)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert()


def _mtls_connect(port, cid, ctx):
    """One CONNECT without username over TLS with `ctx`. Returns (CONNACK code, client)."""
    raw = TlsRawClient(port, ctx)
    try:
        rc, _ = raw.connect(cid, username=None, password=None)
    except BaseException:
        raw.close()
        raise
    return rc, raw


def test_mtls_cached_chain_is_revoked_with_its_ca(env):
    """A reconnecting mTLS device is answered from the validated-chain cache; deleting its CA
    disconnects it and refuses its next CONNECT (the cached chain no longer counts)."""
    b = env.broker
    port = b.port("mqtts")
    ca = env.pki.ca("mtls-revoke-ca", "mTLS Revocable CA")
    ca_doc = onboard(b.admin, env.pki, "plant-revoke", ca)
    cid = unique_id("mtls-revoke")
    ctx = client_ctx(env, env.pki.device("mtls-revoke", cid, ca, client_auth=True))

    refusals = b.metric("portcullis_auth_failures_total", {"reason": "mtls.chain"})
    rc, raw = _mtls_connect(port, cid, ctx)
    raw.send(bytes([0xE0, 0]))  # DISCONNECT
    assert raw.wait_closed(5)
    raw.close()
    assert rc == 0, f"CONNACK {rc:#04x} for a new mTLS device"
    rc, live = _mtls_connect(port, cid, ctx)
    try:
        assert rc == 0, f"CONNACK {rc:#04x} for a reconnecting mTLS device"
        assert b.metric("portcullis_auth_failures_total", {"reason": "mtls.chain"}) == refusals
        status, _ = b.admin.request("DELETE", f"/api/v1/tenants/plant-revoke/cas/{ca_doc['id']}")
        assert status == 204, status
        assert live.wait_closed(3), "mTLS device still connected 3 s after its CA was deleted"
    finally:
        live.close()
    assert_refused(b, cid, None, "mtls.chain", username=None, listener="mqtts", tls=ctx)


def test_no_session_ticket_and_no_resumption_failure(env):
    """The broker issues no TLS session ticket (tls_context.cpp: each cost a certificate parse
    and none could be used), so a client never attempts a resumption that would fail."""
    cid = unique_id("mtls-ticket")
    ctx = client_ctx(env, env.pki.device("mtls-ticket", cid, env.tenant_ca, client_auth=True))
    rc, raw = _mtls_connect(env.broker.port("mqtts"), cid, ctx)
    try:
        assert rc == 0, f"CONNACK {rc:#04x}"
        assert not raw.sock.session.has_ticket, "the broker issued a session ticket"
        session = raw.sock.session
    finally:
        raw.close()
    # Offering that (ticketless) session does not break the next handshake.
    again = TlsRawClient(env.broker.port("mqtts"), ctx, session=session)
    try:
        assert again.connect(cid, username=None, password=None)[0] == 0
        assert not again.sock.session_reused
    finally:
        again.close()


def test_operator_openssl_config_with_extra_providers_is_honoured(env, tmp_path, monkeypatch):
    # With a provider beyond OpenSSL's default one configured (here: legacy, through
    # OPENSSL_CONF), the broker must not swap in its private lean library contexts (they would
    # drop the operator's provider policy): it verifies in the default context instead, and
    # mTLS and x5c devices connect exactly as before.
    cnf = tmp_path / "openssl.cnf"
    cnf.write_text("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
                   "[provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n"
                   "[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n")
    monkeypatch.setenv("OPENSSL_CONF", str(cnf))
    cfg = auth_overrides()
    tls = {"cert": str(env.server_crt), "key": str(env.server_key)}
    cfg["listeners"] = [
        {"name": "mqtts", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt", "mtls"],
         "tls": {**tls, "client_certs": "optional"}},
        {"name": "admin", "bind": "127.0.0.1:0", "protocol": "http"},
    ]
    brokers = AuthBrokers(tmp_path / "b")
    try:
        b = brokers(overrides=cfg)
        onboard(b.admin, env.pki, "plant", env.tenant_ca)
        cid = unique_id("mtls-cnf")
        dev = env.pki.device("mtls-cnf", cid, env.tenant_ca, client_auth=True)
        c = PahoClient(b.port("mqtts"), cid)
        c.client.tls_set(ca_certs=env.server_ca[0], certfile=dev[0], keyfile=dev[1])
        try:
            rc, _ = c.connect()
            assert rc == 0, f"CONNACK {rc} for an mTLS device with an operator OpenSSL config"
        finally:
            c.close()
        cid2 = unique_id("jwt-cnf")
        dev2 = env.pki.device("jwt-cnf", cid2, env.tenant_ca)
        ctx = ssl.create_default_context(cafile=env.server_ca[0])
        ctx.check_hostname = False
        connects(b.port("mqtts"), cid2, mint(*dev2, cid2), tls=ctx).close()
        assert {cid, cid2} <= {a["name"] for a in b.admin.agents("plant")}
    finally:
        brokers.stop_all()


@pytest.mark.parametrize("suite", [
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA384",
])
def test_mtls_device_connects_over_each_common_tls12_suite(env, suite):
    """The TLS contexts list only the ciphers of OpenSSL's default suites (lean provider): each
    TLS 1.2 suite a device commonly uses still negotiates, mTLS authentication included."""
    cid = unique_id("mtls-suite")
    dev = env.pki.device("mtls-suite", cid, env.tenant_ca, client_auth=True)
    ctx = client_ctx(env, dev)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(suite)
    rc, raw = _mtls_connect(env.broker.port("mqtts"), cid, ctx)
    try:
        assert raw.sock.cipher()[0] == suite
        assert rc == 0, f"CONNACK {rc} over {suite}"
    finally:
        raw.close()


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                   "TLS_CHACHA20_POLY1305_SHA256"])
def test_each_tls13_suite_negotiates(env, suite):
    """Python cannot restrict TLS 1.3 suites; openssl s_client can (handshake with a client
    certificate, then EOF)."""
    dev = env.pki.device("tls13-suite", unique_id("tls13-suite"), env.tenant_ca, client_auth=True)
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{env.broker.port('mqtts')}", "-tls1_3",
                        "-ciphersuites", suite, "-CAfile", str(env.server_ca[0]), "-cert", str(dev[0]),
                        "-key", str(dev[1]), "-brief"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    assert f"Ciphersuite: {suite}" in out, out
