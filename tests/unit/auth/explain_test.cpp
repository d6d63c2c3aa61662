// token explain: the same rules as the verifier, every rule reported, failures named.

#include "portcullis/auth/explain.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

#include "portcullis/auth/trust_store.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

std::vector<std::string> failing(const std::vector<rule_result>& rules) {
  std::vector<std::string> out;
  for (const auto& r : rules) {
    if (!r.passed) {
      out.push_back(r.rule);
    }
  }
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("explain_x5c_jwt", "[auth][explain]") {
  const auto& f = pki_fixture();
  SECTION("a valid token passes every rule, signature last") {
    auto rules = explain_x5c_jwt("_CertificateBearer", valid_builder().build(), client_id, *f.root_store,
                                 x5c_options{}, now);
    CHECK(failing(rules).empty());
    REQUIRE(rules.size() > 15);
    CHECK(rules.back().rule == "jwt.signature");
  }
  SECTION("the identity comes back with a valid token, and is the one verify binds") {
    std::optional<identity> id;
    auto token = valid_builder().build();
    auto rules = explain_x5c_jwt("_CertificateBearer", token, client_id, *f.root_store, x5c_options{}, now, &id);
    REQUIRE(failing(rules).empty());
    REQUIRE(id.has_value());
    auto v = verify_x5c_jwt("_CertificateBearer", token, client_id, *f.root_store, x5c_options{}, now);
    REQUIRE(v);
    CHECK(id->client_id == v->client_id);
    CHECK(id->tenant == v->tenant);
    CHECK(id->subject_dn == v->subject_dn);
    CHECK(id->cert_sha256 == v->cert_sha256);
  }
  SECTION("no identity when any rule fails, even one the signature does not depend on") {
    std::optional<identity> id = identity{};
    auto rules = explain_x5c_jwt("_CertificateBearer", valid_builder().build(), client_id, *f.empty_store,
                                 x5c_options{}, now, &id);
    CHECK_FALSE(failing(rules).empty());
    CHECK_FALSE(id.has_value());
  }
  SECTION("several broken rules are all listed") {
    auto b = valid_builder(f.no_aki_device, {&f.intermediate});
    b.set_claim("exp", std::to_string(now + 7200)).set_claim("aud", "[\"x\"]");
    b.key_pem = f.other_key;
    auto rules = explain_x5c_jwt("wrong", b.build(), client_id, *f.root_store, x5c_options{}, now);
    auto bad = failing(rules);
    CHECK(has(bad, "auth.username"));
    CHECK(has(bad, "jwt.aud"));
    CHECK(has(bad, "jwt.lifetime"));
    CHECK(has(bad, "cert.aki"));
    CHECK(has(bad, "jwt.signature"));
    CHECK_FALSE(has(bad, "jwt.alg"));
  }
  SECTION("signature still reported when no CA matches") {
    auto rules = explain_x5c_jwt("_CertificateBearer", valid_builder().build(), client_id, *f.empty_store,
                                 x5c_options{}, now);
    auto bad = failing(rules);
    CHECK(bad == std::vector<std::string>{"x5c.no_tenant_ca"});
    CHECK(rules.back().rule == "jwt.signature");
    CHECK(rules.back().passed);
  }
  SECTION("an expired device certificate is reported once, and the rest of the path still checked") {
    auto rules = explain_x5c_jwt("_CertificateBearer", valid_builder(f.expired_device, {&f.intermediate, &f.root}).build(),
                                 client_id, *f.root_store, x5c_options{}, now);
    CHECK(failing(rules) == std::vector<std::string>{"x5c.expired"});
    auto chain = std::find_if(rules.begin(), rules.end(), [](const rule_result& r) { return r.rule == "x5c.chain"; });
    REQUIRE(chain != rules.end());
    CHECK(chain->passed);
  }
  SECTION("an unparsable token stops at jwt.format") {
    auto rules = explain_x5c_jwt("_CertificateBearer", "a.b", client_id, *f.root_store, x5c_options{}, now);
    CHECK(failing(rules) == std::vector<std::string>{"jwt.format"});
  }
  SECTION("explain agrees with verify on the first failure") {
    auto b = valid_builder();
    b.set_claim("iss", quote("nope-nope-nope-nope"));
    auto token = b.build();
    auto r = verify_x5c_jwt("_CertificateBearer", token, client_id, *f.root_store, x5c_options{}, now);
    REQUIRE_FALSE(r);
    auto bad = failing(explain_x5c_jwt("_CertificateBearer", token, client_id, *f.root_store, x5c_options{}, now));
    REQUIRE_FALSE(bad.empty());
    CHECK(bad.front() == code_of(r.error().code));
  }
}

TEST_CASE("decode_jws", "[auth][explain]") {
  auto d = decode_jws(valid_builder().build());
  REQUIRE(d);
  CHECK(d->claims_json.find("\"iss\": \"device-0001-abcdef\"") != std::string::npos);
  CHECK(d->header_json.find("<3 certificates>") != std::string::npos);
  REQUIRE(d->certificates.size() == 3);
  CHECK(d->certificates[0].find("CN=device-0001-abcdef") == 0);
  CHECK_FALSE(decode_jws("x.y.z"));
}
