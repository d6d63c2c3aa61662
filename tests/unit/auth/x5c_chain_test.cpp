// x5c JWT certificate rules (SPEC §4.1, seed 000 device certificate requirements): chain
// order, registered CA (root or intermediate), path validation, validity, device profile
// (v3, keyUsage digitalSignature, AKI), and the RS256 signature with the device key.

#include "portcullis/auth/x5c_jwt_verifier.hpp"

#include <catch2/catch.hpp>

#include "portcullis/auth/token.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

boost::system::result<identity, auth_failure> verify(const std::string& token, const trust_store& store,
                                                     std::int64_t at = now) {
  return verify_x5c_jwt("_CertificateBearer", token, client_id, store, x5c_options{}, at);
}

bool accepted(const boost::system::result<identity, auth_failure>& r) {
  INFO((r ? std::string() : std::string(code_of(r.error().code)) + ": " + r.error().detail));
  return r.has_value();
}

reason refusal(const boost::system::result<identity, auth_failure>& r) {
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().detail);
  return r.error().code;
}

}  // namespace

TEST_CASE("x5c chain and tenant CA", "[auth][x5c]") {
  const auto& f = pki_fixture();
  SECTION("root registered, intermediate and root in the chain: accepted") {
    auto r = verify(valid_builder(f.device, {&f.intermediate, &f.root}).build(), *f.root_store);
    REQUIRE(accepted(r));
    CHECK(r->ca_id == "ca-root");
  }
  SECTION("intermediate registered (partial chain): accepted") {
    auto r = verify(valid_builder(f.device, {&f.intermediate}).build(), *f.intermediate_store);
    REQUIRE(accepted(r));
    CHECK(r->ca_id == "ca-int");
  }
  SECTION("intermediate registered, root also presented: the intermediate is the anchor") {
    auto r = verify(valid_builder(f.device, {&f.intermediate, &f.root}).build(), *f.intermediate_store);
    REQUIRE(accepted(r));
    CHECK(r->ca_id == "ca-int");
  }
  SECTION("device and the registered root that issued it: accepted") {
    CHECK(accepted(verify(valid_builder(f.device_by_root, {&f.root}).build(), *f.root_store)));
  }
  // SPEC §4.1: "the chain contains a CA certificate currently registered for a tenant" (seed
  // 000: "Contains TenantCA Certificate"). A chain that stops below the registered CA that
  // issued it is refused, and the detail names the CA to send.
  SECTION("device only, issued by the registered root: x5c.no_tenant_ca naming the root") {
    auto r = verify(valid_builder(f.device_by_root, {}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_no_tenant_ca);
    CHECK(r.error().detail.find("does not contain a registered tenant CA") != std::string::npos);
    CHECK(r.error().detail.find("ca-root") != std::string::npos);
  }
  SECTION("device and intermediate, the registered root above them not sent: x5c.no_tenant_ca") {
    CHECK(refusal(verify(valid_builder(f.device, {&f.intermediate}).build(), *f.root_store)) ==
          reason::x5c_no_tenant_ca);
  }
  SECTION("three certificates and the registered root above them: x5c.no_tenant_ca") {
    auto r = verify(valid_builder(f.device_by_sub, {&f.sub_intermediate, &f.intermediate}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_no_tenant_ca);
  }
  SECTION("two certificates and the registered intermediate above them: x5c.no_tenant_ca") {
    CHECK(refusal(verify(valid_builder(f.device_by_sub, {&f.sub_intermediate}).build(), *f.intermediate_store)) ==
          reason::x5c_no_tenant_ca);
  }
  SECTION("three certificates ending in the registered intermediate: accepted") {
    CHECK(accepted(
        verify(valid_builder(f.device_by_sub, {&f.sub_intermediate, &f.intermediate}).build(), *f.intermediate_store)));
  }
  SECTION("the registered CA itself in the device's place: x5c.no_tenant_ca") {
    // Signed with the CA's key, so only the rule "issued by a tenant CA, not one" refuses it.
    auto b = valid_builder(f.root, {});
    b.key_pem = f.root.key_pem;
    auto r = verify(b.build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_no_tenant_ca);
    CHECK(r.error().detail.find("itself") != std::string::npos);
  }
  SECTION("device only, but its issuer (intermediate) is not registered: x5c.no_tenant_ca") {
    CHECK(refusal(verify(valid_builder(f.device, {}).build(), *f.root_store)) == reason::x5c_no_tenant_ca);
  }
  SECTION("chain to an unregistered CA: x5c.no_tenant_ca") {
    CHECK(refusal(verify(valid_builder(f.evil_device, {&f.evil_root}).build(), *f.root_store)) ==
          reason::x5c_no_tenant_ca);
  }
  SECTION("device re-signed by another key (issuer name and AKI of the registered root), root sent: x5c.chain") {
    // The registered root is in the chain; path validation refuses the device's signature.
    auto r = verify(valid_builder(resigned(f.device_by_root, f.other_key), {&f.root}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_chain);
    CHECK(r.error().detail.find("signature failure") != std::string::npos);
  }
  SECTION("device re-signed by another key, real intermediate after it: x5c.chain") {
    auto r = verify(valid_builder(resigned(f.device, f.other_key), {&f.intermediate, &f.root}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_chain);
  }
  SECTION("empty trust store: x5c.no_tenant_ca") {
    CHECK(refusal(verify(valid_builder().build(), *f.empty_store)) == reason::x5c_no_tenant_ca);
  }
  SECTION("out of order [intermediate, device]: x5c.order") {
    auto b = valid_builder(f.device, {&f.intermediate});
    b.set_header("x5c", "[" + quote(f.x5c_entry(f.device)) + "," + quote(f.x5c_entry(f.root)) + "," +
                            quote(f.x5c_entry(f.intermediate)) + "]");
    CHECK(refusal(verify(b.build(), *f.root_store)) == reason::x5c_order);
  }
  SECTION("device cert not first: refused") {
    auto b = valid_builder(f.intermediate, {&f.device});
    auto r = verify(b.build(), *f.root_store);
    REQUIRE_FALSE(r);
  }
  SECTION("evil root presented on top of our chain: still needs our CA, and order") {
    auto b = valid_builder(f.device, {&f.intermediate, &f.evil_root});
    CHECK(refusal(verify(b.build(), *f.intermediate_store)) == reason::x5c_order);
  }
  SECTION("a look-alike root (same name, other key): x5c.no_tenant_ca") {
    pki::ca_options ca;
    ca.valid = pki::days_from(now, 30);
    ca.key_pem = f.other_key;
    auto fake = pki::make_ca("Acme Root", nullptr, ca);
    REQUIRE(fake);
    pki::device_options o;
    o.valid = pki::days_from(now, 30);
    o.key_pem = f.device_key;
    auto dev = pki::make_device_cert(client_id, *fake, o);
    REQUIRE(dev);
    CHECK(refusal(verify(valid_builder(*dev, {}).build(), *f.root_store)) == reason::x5c_no_tenant_ca);
    CHECK(refusal(verify(valid_builder(*dev, {&*fake}).build(), *f.root_store)) == reason::x5c_no_tenant_ca);
  }
  SECTION("an end-entity certificate used as intermediate: x5c.chain") {
    pki::ca_options not_ca;
    not_ca.valid = pki::days_from(now, 30);
    not_ca.key_pem = f.other_key;
    not_ca.is_ca = false;
    auto middle = pki::make_ca("Not A CA", &f.root, not_ca);
    REQUIRE(middle);
    pki::device_options o;
    o.valid = pki::days_from(now, 30);
    o.key_pem = f.device_key;
    auto dev = pki::make_device_cert(client_id, *middle, o);
    REQUIRE(dev);
    CHECK(refusal(verify(valid_builder(*dev, {&*middle, &f.root}).build(), *f.root_store)) == reason::x5c_chain);
  }
}

TEST_CASE("x5c validity periods", "[auth][x5c]") {
  const auto& f = pki_fixture();
  SECTION("expired device certificate: x5c.expired") {
    auto r = verify(valid_builder(f.expired_device, {&f.intermediate}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_expired);
    CHECK(r.error().detail.find("x5c[0]") != std::string::npos);
  }
  SECTION("not yet valid device certificate: x5c.expired") {
    CHECK(refusal(verify(valid_builder(f.future_device, {&f.intermediate}).build(), *f.root_store)) ==
          reason::x5c_expired);
  }
  SECTION("expired intermediate: x5c.expired naming x5c[1]") {
    auto r = verify(valid_builder(f.device_under_expired, {&f.expired_intermediate}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_expired);
    CHECK(r.error().detail.find("x5c[1]") != std::string::npos);
  }
  SECTION("expired registered CA in x5c: x5c.expired naming it") {
    // Register the expired intermediate itself; the device below it is valid.
    auto store = trust_store::create({{"old", tenant, f.der(f.expired_intermediate)}});
    auto r = verify(valid_builder(f.device_under_expired, {&f.expired_intermediate}).build(), *store);
    CHECK(refusal(r) == reason::x5c_expired);
    CHECK(r.error().detail.find("x5c[1]") != std::string::npos);
  }
  SECTION("verification time is `now`: a token valid later is refused when the cert has expired") {
    std::int64_t later = now + 400 * 86400;
    auto b = valid_builder();
    b.set_claim("iat", std::to_string(later)).set_claim("nbf", std::to_string(later))
        .set_claim("exp", std::to_string(later + 600));
    CHECK(refusal(verify(b.build(), *f.root_store, later)) == reason::x5c_expired);
  }
}

TEST_CASE("device certificate profile", "[auth][x5c]") {
  const auto& f = pki_fixture();
  SECTION("X.509 v1: cert.version") {
    CHECK(refusal(verify(valid_builder(f.v1_device, {&f.intermediate}).build(), *f.root_store)) ==
          reason::cert_version);
  }
  SECTION("no keyUsage: cert.key_usage") {
    CHECK(refusal(verify(valid_builder(f.no_ku_device, {&f.intermediate}).build(), *f.root_store)) ==
          reason::cert_key_usage);
  }
  SECTION("keyUsage without digitalSignature: cert.key_usage") {
    CHECK(refusal(verify(valid_builder(f.no_ds_device, {&f.intermediate}).build(), *f.root_store)) ==
          reason::cert_key_usage);
  }
  SECTION("no AKI: cert.aki") {
    CHECK(refusal(verify(valid_builder(f.no_aki_device, {&f.intermediate}).build(), *f.root_store)) ==
          reason::cert_aki);
  }
}

TEST_CASE("a refused chain names the tenant whose CA issued the device certificate", "[auth][x5c]") {
  // Tenant admins see their devices' refusals (GET /api/v1/auth-failures): an expired or
  // mis-issued certificate under their CA is theirs to see, whatever rule it broke; the
  // signatures decide, not names, nor CA certificates anyone can copy into x5c.
  const auto& f = pki_fixture();
  auto tenant_of = [](const boost::system::result<identity, auth_failure>& r) {
    REQUIRE_FALSE(r.has_value());
    return r.error().tenant;
  };
  SECTION("expired device certificate under acme's root: x5c.expired, acme") {
    auto r = verify(valid_builder(f.expired_device, {&f.intermediate, &f.root}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_expired);
    CHECK(tenant_of(r) == tenant);
  }
  SECTION("device profile broken: cert.key_usage, acme") {
    auto r = verify(valid_builder(f.no_ku_device, {&f.intermediate, &f.root}).build(), *f.root_store);
    CHECK(refusal(r) == reason::cert_key_usage);
    CHECK(tenant_of(r) == tenant);
  }
  SECTION("the registered CA left out of x5c: x5c.no_tenant_ca, acme (it signed the last one sent)") {
    auto r = verify(valid_builder(f.device, {&f.intermediate}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_no_tenant_ca);
    CHECK(tenant_of(r) == tenant);
  }
  SECTION("a forged device certificate under acme's genuine intermediate and root: nobody") {
    auto forged = resigned(f.device, f.other_key);
    auto r = verify(valid_builder(forged, {&f.intermediate, &f.root}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_chain);
    CHECK(tenant_of(r).empty());
  }
  SECTION("acme's root sent as the device certificate: nobody") {
    auto r = verify(valid_builder(f.root, {}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_no_tenant_ca);
    CHECK(tenant_of(r).empty());
  }
  SECTION("a chain of an unregistered CA: nobody") {
    auto r = verify(valid_builder(f.evil_device, {&f.evil_root}).build(), *f.root_store);
    CHECK(refusal(r) == reason::x5c_no_tenant_ca);
    CHECK(tenant_of(r).empty());
  }
}

TEST_CASE("jwt.signature", "[auth][x5c]") {
  const auto& f = pki_fixture();
  auto b = valid_builder();
  auto token = b.build();
  SECTION("tampered payload") {
    auto evil = b;
    evil.set_claim("jti", quote("another-id"));
    auto other = evil.build();
    // header.payload of the tampered token with the original signature
    auto tampered = other.substr(0, other.rfind('.')) + token.substr(token.rfind('.'));
    CHECK(refusal(verify(tampered, *f.root_store)) == reason::jwt_signature);
  }
  SECTION("signed by another key") {
    b.key_pem = f.other_key;
    CHECK(refusal(verify(b.build(), *f.root_store)) == reason::jwt_signature);
  }
  SECTION("empty signature") {
    CHECK(refusal(verify(token.substr(0, token.rfind('.') + 1), *f.root_store)) == reason::jwt_signature);
  }
  SECTION("signature of the wrong length") {
    CHECK(refusal(verify(token.substr(0, token.rfind('.') + 1) + "AAAA", *f.root_store)) == reason::jwt_signature);
  }
  SECTION("RSA key below 2048 bits") {
    // Path validation at security level 2 refuses the certificate before its key signs anything.
    auto r = verify(valid_builder(f.small_key_device, {&f.intermediate, &f.root}).build(), *f.root_store);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::x5c_chain);
    CHECK_THAT(r.error().detail, Catch::Contains("key too weak"));
  }
}
