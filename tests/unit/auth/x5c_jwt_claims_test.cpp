// x5c JWT claim rules (SPEC §4.1): jti, iss, sub, aud, iat, exp, nbf, lifetime, schemas, ten,
// each accepted and refused, time rules exactly at their edges (skew 60 s, lifetime 3600 s).

#include "portcullis/auth/x5c_jwt_verifier.hpp"

#include <catch2/catch.hpp>

#include "portcullis/auth/chain_cache.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

boost::system::result<identity, auth_failure> verify(const jwt_builder& b, std::int64_t at = now,
                                                     const trust_store* store = nullptr) {
  return verify_x5c_jwt("_CertificateBearer", b.build(), client_id, store ? *store : *pki_fixture().root_store,
                        x5c_options{}, at);
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

std::string n(std::int64_t v) {
  return std::to_string(v);
}

}  // namespace

TEST_CASE("jwt.jti", "[auth][claims]") {
  auto b = valid_builder();
  SECTION("36 characters accepted") {
    b.set_claim("jti", quote(std::string(36, 'j')));
    CHECK(accepted(verify(b)));
  }
  SECTION("1 character accepted") {
    b.set_claim("jti", quote("j"));
    CHECK(accepted(verify(b)));
  }
  SECTION("missing") {
    b.drop_claim("jti");
    CHECK(refusal(verify(b)) == reason::jwt_jti);
  }
  SECTION("empty") {
    b.set_claim("jti", quote(""));
    CHECK(refusal(verify(b)) == reason::jwt_jti);
  }
  SECTION("37 characters") {
    b.set_claim("jti", quote(std::string(37, 'j')));
    CHECK(refusal(verify(b)) == reason::jwt_jti);
  }
  SECTION("number") {
    b.set_claim("jti", "12345");
    CHECK(refusal(verify(b)) == reason::jwt_jti);
  }
}

TEST_CASE("jwt.iss and jwt.sub", "[auth][claims]") {
  auto b = valid_builder();
  SECTION("iss another client id") {
    b.set_claim("iss", quote("device-0002-abcdef"));
    CHECK(refusal(verify(b)) == reason::jwt_iss);
  }
  SECTION("iss missing") {
    b.drop_claim("iss");
    CHECK(refusal(verify(b)) == reason::jwt_iss);
  }
  SECTION("iss not a string") {
    b.set_claim("iss", "[\"device-0001-abcdef\"]");
    CHECK(refusal(verify(b)) == reason::jwt_iss);
  }
  SECTION("sub another client id") {
    b.set_claim("sub", quote("device-0002-abcdef"));
    CHECK(refusal(verify(b)) == reason::jwt_sub);
  }
  SECTION("sub missing") {
    b.drop_claim("sub");
    CHECK(refusal(verify(b)) == reason::jwt_sub);
  }
}

TEST_CASE("jwt.aud", "[auth][claims]") {
  auto b = valid_builder();
  SECTION("string form accepted") {
    b.set_claim("aud", quote("MQTTBroker"));
    CHECK(accepted(verify(b)));
  }
  SECTION("array with other audiences accepted") {
    b.set_claim("aud", "[\"Other\",\"MQTTBroker\"]");
    CHECK(accepted(verify(b)));
  }
  SECTION("wrong string") {
    b.set_claim("aud", quote("mqttbroker"));
    CHECK(refusal(verify(b)) == reason::jwt_aud);
  }
  SECTION("array without the audience") {
    b.set_claim("aud", "[\"Other\"]");
    CHECK(refusal(verify(b)) == reason::jwt_aud);
  }
  SECTION("empty array") {
    b.set_claim("aud", "[]");
    CHECK(refusal(verify(b)) == reason::jwt_aud);
  }
  SECTION("array with a non-string") {
    b.set_claim("aud", "[\"MQTTBroker\",1]");
    CHECK(refusal(verify(b)) == reason::jwt_aud);
  }
  SECTION("missing") {
    b.drop_claim("aud");
    CHECK(refusal(verify(b)) == reason::jwt_aud);
  }
}

TEST_CASE("jwt.iat, jwt.exp, jwt.nbf, jwt.lifetime", "[auth][claims]") {
  auto b = valid_builder();
  SECTION("iat missing") {
    b.drop_claim("iat");
    CHECK(refusal(verify(b)) == reason::jwt_iat);
  }
  SECTION("iat float") {
    b.set_claim("iat", n(now) + ".0");
    CHECK(refusal(verify(b)) == reason::jwt_iat);
  }
  SECTION("iat string") {
    b.set_claim("iat", quote(n(now)));
    CHECK(refusal(verify(b)) == reason::jwt_iat);
  }
  SECTION("iat exponent notation") {
    b.set_claim("iat", "1.7e9");
    CHECK(refusal(verify(b)) == reason::jwt_iat);
  }
  SECTION("iat negative") {
    b.set_claim("iat", "-1");
    CHECK(refusal(verify(b)) == reason::jwt_iat);
  }
  SECTION("iat exactly now + skew accepted") {
    b.set_claim("iat", n(now + 60)).set_claim("nbf", n(now)).set_claim("exp", n(now + 600));
    CHECK(accepted(verify(b)));
  }
  SECTION("iat now + skew + 1 refused") {
    b.set_claim("iat", n(now + 61)).set_claim("exp", n(now + 600));
    CHECK(refusal(verify(b)) == reason::jwt_iat);
  }
  SECTION("exp missing") {
    b.drop_claim("exp");
    CHECK(refusal(verify(b)) == reason::jwt_exp);
  }
  SECTION("exp float") {
    b.set_claim("exp", n(now + 600) + ".5");
    CHECK(refusal(verify(b)) == reason::jwt_exp);
  }
  SECTION("exp huge (overflow guard)") {
    b.set_claim("exp", "9223372036854775807");
    CHECK(refusal(verify(b)) == reason::jwt_exp);
  }
  SECTION("exp one second inside the skew accepted: now = exp + skew - 1") {
    b.set_claim("iat", n(now - 600)).set_claim("nbf", n(now - 600)).set_claim("exp", n(now - 59));
    CHECK(accepted(verify(b)));
  }
  SECTION("exp exactly at the skew edge refused: now = exp + skew") {
    b.set_claim("iat", n(now - 600)).set_claim("nbf", n(now - 600)).set_claim("exp", n(now - 60));
    auto r = verify(b);
    CHECK(refusal(r) == reason::jwt_exp);
    CHECK(r.error().detail.find("60 s in the past") != std::string::npos);
  }
  SECTION("nbf optional") {
    b.drop_claim("nbf");
    CHECK(accepted(verify(b)));
  }
  SECTION("nbf exactly now + skew accepted") {
    b.set_claim("nbf", n(now + 60));
    CHECK(accepted(verify(b)));
  }
  SECTION("nbf now + skew + 1 refused") {
    b.set_claim("nbf", n(now + 61));
    CHECK(refusal(verify(b)) == reason::jwt_nbf);
  }
  SECTION("nbf not an integer") {
    b.set_claim("nbf", quote("soon"));
    CHECK(refusal(verify(b)) == reason::jwt_nbf);
  }
  SECTION("lifetime exactly 3600 accepted") {
    b.set_claim("exp", n(now + 3600));
    CHECK(accepted(verify(b)));
  }
  SECTION("lifetime 3601 refused") {
    b.set_claim("exp", n(now + 3601));
    CHECK(refusal(verify(b)) == reason::jwt_lifetime);
  }
  SECTION("lifetime 0 refused") {
    b.set_claim("iat", n(now + 10)).set_claim("exp", n(now + 10));
    CHECK(refusal(verify(b)) == reason::jwt_lifetime);
  }
  SECTION("exp before iat refused") {
    b.set_claim("iat", n(now + 20)).set_claim("exp", n(now + 10));
    CHECK(refusal(verify(b)) == reason::jwt_lifetime);
  }
}

TEST_CASE("jwt.schemas", "[auth][claims]") {
  auto b = valid_builder();
  SECTION("missing") {
    b.drop_claim("schemas");
    CHECK(refusal(verify(b)) == reason::jwt_schemas);
  }
  SECTION("string instead of array") {
    b.set_claim("schemas", quote("urn:siemens:mindsphere:v1"));
    CHECK(refusal(verify(b)) == reason::jwt_schemas);
  }
  SECTION("extra entry") {
    b.set_claim("schemas", "[\"urn:siemens:mindsphere:v1\",\"urn:x\"]");
    CHECK(refusal(verify(b)) == reason::jwt_schemas);
  }
  SECTION("different value") {
    b.set_claim("schemas", "[\"urn:siemens:mindsphere:v2\"]");
    CHECK(refusal(verify(b)) == reason::jwt_schemas);
  }
  SECTION("configured list honoured") {
    b.set_claim("schemas", "[\"a\",\"b\"]");
    x5c_options o;
    o.schemas = {"a", "b"};
    auto r = verify_x5c_jwt("_CertificateBearer", b.build(), client_id, *pki_fixture().root_store, o, now);
    CHECK(accepted(r));
  }
}

TEST_CASE("jwt.ten", "[auth][claims]") {
  auto b = valid_builder();
  SECTION("empty accepted") {
    CHECK(accepted(verify(b)));
  }
  SECTION("missing refused (seed 000 marks only nbf optional)") {
    b.drop_claim("ten");
    CHECK(refusal(verify(b)) == reason::jwt_ten);
  }
  SECTION("tenant of the CA accepted") {
    b.set_claim("ten", quote("acme"));
    CHECK(accepted(verify(b)));
  }
  SECTION("another tenant refused, and the refusal is the CA's tenant's to see") {
    b.set_claim("ten", quote("globex"));
    auto r = verify(b);
    CHECK(refusal(r) == reason::jwt_ten);
    CHECK(r.error().tenant == "acme");
  }
  SECTION("the CA registered for another tenant refuses ten=acme") {
    b.set_claim("ten", quote("acme"));
    CHECK(refusal(verify(b, now, pki_fixture().other_tenant_store.get())) == reason::jwt_ten);
  }
  SECTION("37 characters refused") {
    b.set_claim("ten", quote(std::string(37, 't')));
    CHECK(refusal(verify(b)) == reason::jwt_ten);
  }
  SECTION("not a string refused") {
    b.set_claim("ten", "7");
    CHECK(refusal(verify(b)) == reason::jwt_ten);
  }
}

TEST_CASE("a refused claim names the tenant whose CA the chain validates against", "[auth][claims]") {
  // The admin API lists a tenant's refusals to that tenant's admins: an expired token of one of
  // its devices is theirs to see; a token whose chain reaches no registered CA is nobody's.
  auto b = valid_builder();
  b.set_claim("exp", n(now - 120));
  // Twice through one chain cache (a miss, then a hit unless the first was not cached): the same
  // refusal and tenant each time.
  auto twice_through = [&](chain_cache& cache, reason expected) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto r = verify_x5c_jwt("_CertificateBearer", b.build(), client_id, *pki_fixture().root_store, x5c_options{},
                              now, &cache);
      CHECK(refusal(r) == expected);
      CHECK(r.error().tenant == "acme");
    }
  };
  SECTION("valid chain: the CA's tenant") {
    auto r = verify(b);
    CHECK(refusal(r) == reason::jwt_exp);
    CHECK(r.error().tenant == "acme");
  }
  SECTION("valid chain through the chain cache: the same, and on the cached second try") {
    chain_cache cache;
    twice_through(cache, reason::jwt_exp);
  }
  SECTION("no registered CA: no tenant") {
    auto r = verify(b, now, pki_fixture().empty_store.get());
    CHECK(refusal(r) == reason::jwt_exp);
    CHECK(r.error().tenant.empty());
  }
  SECTION("a broken header over acme's chain: acme, and the chain is not cached under that header") {
    b.set_header("typ", quote("JOSE"));
    chain_cache cache;
    twice_through(cache, reason::jwt_typ);
    CHECK(cache.size() == 0);
  }
  SECTION("a broken header over a chain of no registered CA: no tenant") {
    b.set_header("typ", quote("JOSE"));
    auto r = verify(b, now, pki_fixture().empty_store.get());
    CHECK(refusal(r) == reason::jwt_typ);
    CHECK(r.error().tenant.empty());
  }
}
