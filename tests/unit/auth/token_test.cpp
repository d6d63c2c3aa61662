// mint_x5c_jwt → verify_x5c_jwt round trips; mint refuses bad inputs.

#include "portcullis/auth/token.hpp"

#include <catch2/catch.hpp>

#include "portcullis/auth/explain.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

mint_request request() {
  const auto& f = pki_fixture();
  mint_request m;
  m.cert_pem = f.device.cert_pem;
  m.key_pem = f.device_key;
  m.chain_pems = {f.intermediate.cert_pem, f.root.cert_pem};
  m.client_id = client_id;
  m.now = now;
  return m;
}

}  // namespace

TEST_CASE("mint then verify", "[auth][token]") {
  const auto& f = pki_fixture();
  SECTION("defaults round-trip") {
    auto token = mint_x5c_jwt(request());
    REQUIRE(token);
    auto r = verify_x5c_jwt("_CertificateBearer", *token, client_id, *f.root_store, x5c_options{}, now);
    INFO((r ? std::string() : r.error().detail));
    REQUIRE(r);
    CHECK(r->expires_at == now + 3600);
    CHECK(r->jti.size() == 36);
  }
  SECTION("tenant, lifetime and jti honoured") {
    auto m = request();
    m.tenant = "acme";
    m.lifetime_seconds = 60;
    m.jti = "my-jti";
    auto token = mint_x5c_jwt(m);
    REQUIRE(token);
    auto r = verify_x5c_jwt("_CertificateBearer", *token, client_id, *f.root_store, x5c_options{}, now);
    REQUIRE(r);
    CHECK(r->jti == "my-jti");
    CHECK(r->expires_at == now + 60);
    auto d = decode_jws(*token);
    REQUIRE(d);
    CHECK(d->claims_json.find("\"ten\": \"acme\"") != std::string::npos);
  }
  SECTION("a chain file holding several certificates") {
    auto m = request();
    m.chain_pems = {f.intermediate.cert_pem + f.root.cert_pem};
    auto token = mint_x5c_jwt(m);
    REQUIRE(token);
    CHECK(verify_x5c_jwt("_CertificateBearer", *token, client_id, *f.intermediate_store, x5c_options{}, now));
  }
  SECTION("key that does not match the certificate") {
    auto m = request();
    m.key_pem = f.other_key;
    CHECK_FALSE(mint_x5c_jwt(m));
  }
  SECTION("bad PEMs") {
    auto m = request();
    m.cert_pem = "nope";
    CHECK_FALSE(mint_x5c_jwt(m));
    m = request();
    m.key_pem = "nope";
    CHECK_FALSE(mint_x5c_jwt(m));
    m = request();
    m.chain_pems = {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"};
    CHECK_FALSE(mint_x5c_jwt(m));
  }
}
