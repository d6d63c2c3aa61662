// verify_mtls: TLS client chains against registered tenant CAs, client id = CN.

#include "portcullis/auth/mtls_verifier.hpp"

#include <catch2/catch.hpp>
#include <openssl/x509.h>

#include "portcullis/auth/trust_store.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

}  // namespace

TEST_CASE("mTLS client certificates", "[auth][mtls]") {
  const auto& f = pki_fixture();
  SECTION("leaf + intermediate, root registered: accepted") {
    auto r = verify_mtls({f.der(f.device), f.der(f.intermediate)}, client_id, *f.root_store, now);
    INFO((r ? std::string() : r.error().detail));
    REQUIRE(r);
    CHECK(r->method == "mtls");
    CHECK(r->tenant == "acme");
    CHECK(r->ca_id == "ca-root");
    CHECK_FALSE(r->expires_at.has_value());
  }
  SECTION("leaf only, intermediate registered: accepted") {
    CHECK(verify_mtls({f.der(f.device)}, client_id, *f.intermediate_store, now));
  }
  SECTION("extra certificates in any order: accepted") {
    CHECK(verify_mtls({f.der(f.device), f.der(f.root), f.der(f.intermediate)}, client_id, *f.root_store, now));
  }
  SECTION("no certificate: mtls.no_certificate") {
    auto r = verify_mtls(std::vector<std::vector<std::uint8_t>>{}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_no_certificate);
  }
  SECTION("client id is not the CN: mtls.cn_mismatch") {
    auto r = verify_mtls({f.der(f.device), f.der(f.intermediate)}, "device-0002-abcdef", *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_cn_mismatch);
    CHECK(r.error().tenant == "acme");  // the chain is valid: the refusal is acme's to see
  }
  SECTION("unregistered CA: mtls.chain") {
    auto r = verify_mtls({f.der(f.evil_device), f.der(f.evil_root)}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK(r.error().tenant.empty());
    CHECK(r.error().detail.find("x5c.no_tenant_ca") != std::string::npos);
  }
  SECTION("leaf only, re-signed by another key: mtls.chain (signature failure)") {
    auto forged = resigned(f.device, f.other_key);
    auto r = verify_mtls({f.der(forged)}, client_id, *f.intermediate_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK(r.error().detail.find("signature failure") != std::string::npos);
  }
  SECTION("missing intermediate: mtls.chain") {
    auto r = verify_mtls({f.der(f.device)}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
  }
  SECTION("expired leaf: mtls.chain naming x5c.expired, attributed to the issuing tenant") {
    auto r = verify_mtls({f.der(f.expired_device), f.der(f.intermediate)}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK(r.error().detail.find("x5c.expired") != std::string::npos);
    CHECK(r.error().tenant == "acme");  // issued under acme's CA: acme's admin sees the refusal
  }
  SECTION("keyUsage without digitalSignature fails the sslclient purpose") {
    auto r = verify_mtls({f.der(f.no_ds_device), f.der(f.intermediate)}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
  }
  SECTION("no AKI is tolerated for mTLS (policy)") {
    CHECK(verify_mtls({f.der(f.no_aki_device), f.der(f.intermediate)}, client_id, *f.root_store, now));
  }
  SECTION("garbage DER: mtls.chain") {
    auto r = verify_mtls({{1, 2, 3}}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
  }
  SECTION("client id length still applies") {
    auto r = verify_mtls({f.der(f.device)}, "short", *f.intermediate_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::client_id_length);
  }
}

namespace {

// What the broker hands over: the DER and libssl's parsed certificates (here parsed by d2i).
peer_chain with_parsed(std::vector<std::vector<std::uint8_t>> ders) {
  peer_chain chain;
  for (const auto& der : ders) {
    const unsigned char* p = der.data();
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    REQUIRE(cert != nullptr);
    chain.parsed.emplace_back(cert, X509_free);
  }
  chain.der = std::move(ders);
  return chain;
}

}  // namespace

TEST_CASE("mTLS chains handed over already parsed", "[auth][mtls]") {
  const auto& f = pki_fixture();
  SECTION("the parsed certificates validate like the DER") {
    auto r = verify_mtls(with_parsed({f.der(f.device), f.der(f.intermediate)}), client_id, *f.root_store, now);
    INFO((r ? std::string() : r.error().detail));
    REQUIRE(r);
    CHECK(r->ca_id == "ca-root");
  }
  SECTION("and are refused like the DER") {
    auto r = verify_mtls(with_parsed({f.der(f.expired_device), f.der(f.intermediate)}), client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK(r.error().detail.find("x5c.expired") != std::string::npos);
  }
  SECTION("a parsed list that does not match the DER one for one is ignored: the DER decides") {
    auto chain = with_parsed({f.der(f.evil_device)});  // would fail: unregistered CA
    chain.der = {f.der(f.device), f.der(f.intermediate)};
    auto r = verify_mtls(chain, client_id, *f.root_store, now);
    INFO((r ? std::string() : r.error().detail));
    CHECK(r);
  }
}
