// Certificates are parsed in the lean library context (auth/src/lean_provider.cpp), which
// decodes RSA, RSA-PSS, EC, Ed25519 and Ed448 public keys only. These tests pin what that means
// for users: EC chains work like RSA ones, and a certificate whose key type is outside the set
// is refused with a reason, not accepted and not a crash.

#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "portcullis/auth/mtls_verifier.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

// A fresh private key of `type` ("EC" P-256, "RSA-PSS" 2048, "X25519", "ED25519") as PKCS#8 PEM.
std::string key_pem(const char* type) {
  EVP_PKEY* raw = nullptr;
  if (std::string(type) == "EC") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (std::string(type) == "RSA-PSS") {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr), &EVP_PKEY_CTX_free);
    REQUIRE(ctx != nullptr);
    REQUIRE(EVP_PKEY_keygen_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) == 1);
    REQUIRE(EVP_PKEY_generate(ctx.get(), &raw) == 1);
  } else {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  }
  REQUIRE(raw != nullptr);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

pki::issued must(pki::result<pki::issued> r) {
  INFO((r ? std::string() : r.error()));
  REQUIRE(r);
  return std::move(*r);
}

std::vector<std::uint8_t> der_of(const pki::issued& who) {
  return pki_fixture().der(who);
}

}  // namespace

TEST_CASE("EC tenant CAs and EC device keys validate like RSA ones", "[auth][keys]") {
  pki::ca_options ca;
  ca.valid = pki::days_from(now, 3650);
  ca.key_pem = key_pem("EC");
  auto root = must(pki::make_ca("EC Root", nullptr, ca));
  pki::device_options o;
  o.valid = pki::days_from(now, 365);
  o.key_pem = key_pem("EC");
  auto device = must(pki::make_device_cert(client_id, root, o));
  auto store = trust_store::create({{"ca-ec", tenant, der_of(root)}});

  auto r = verify_mtls({der_of(device)}, client_id, *store, now);
  INFO((r ? std::string() : r.error().detail));
  REQUIRE(r);
  CHECK(r->ca_id == "ca-ec");

  // An RSA device under the EC root: the EC root's signature is checked, the RSA key signs the JWT.
  o.key_pem = pki_fixture().device_key;
  auto rsa_device = must(pki::make_device_cert(client_id, root, o));
  auto token = valid_builder(rsa_device, {&root}).build();
  auto x = verify_x5c_jwt("_CertificateBearer", token, client_id, *store, x5c_options{}, now);
  INFO((x ? std::string() : x.error().detail));
  CHECK(x);
}

TEST_CASE("a device key type outside the decoded set is refused with a reason", "[auth][keys]") {
  const auto& f = pki_fixture();
  pki::device_options o;
  o.valid = pki::days_from(now, 365);
  o.key_pem = key_pem("X25519");  // a key-agreement key: no certificate signature, no TLS, no JWT
  auto device = must(pki::make_device_cert(client_id, f.intermediate, o));

  SECTION("mTLS") {
    auto r = verify_mtls({der_of(device), f.der(f.intermediate)}, client_id, *f.root_store, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK_THAT(r.error().detail, Catch::Contains("unsupported type (X25519)"));
  }
  SECTION("x5c") {
    auto b = valid_builder(device, {&f.intermediate});
    b.key_pem = f.device_key;
    auto r = verify_x5c_jwt("_CertificateBearer", b.build(), client_id, *f.root_store, x5c_options{}, now);
    REQUIRE_FALSE(r);
    INFO(r.error().detail);
    CHECK(r.error().code == reason::jwt_x5c);
    CHECK_THAT(r.error().detail, Catch::Contains("unsupported type (X25519)"));
  }
}

namespace {

// A device certificate with a fresh key of `type`, under the fixture's intermediate, over mTLS.
boost::system::result<identity, auth_failure> mtls_device_with_key(const char* type) {
  const auto& f = pki_fixture();
  pki::device_options o;
  o.valid = pki::days_from(now, 365);
  o.key_pem = key_pem(type);
  auto device = must(pki::make_device_cert(client_id, f.intermediate, o));
  return verify_mtls({der_of(device), f.der(f.intermediate)}, client_id, *f.root_store, now);
}

}  // namespace

// Certificates are parsed in an RSA-only context first (openssl_util.cpp); an RSA-PSS key must
// not be read as a plain RSA one there, and must still be read (in the full context).
TEST_CASE("an RSA-PSS device certificate validates over mTLS", "[auth][keys]") {
  auto r = mtls_device_with_key("RSA-PSS");
  INFO((r ? std::string() : r.error().detail));
  CHECK(r);
}

TEST_CASE("an Ed25519 device certificate validates over mTLS", "[auth][keys]") {
  auto r = mtls_device_with_key("ED25519");
  INFO((r ? std::string() : r.error().detail));
  CHECK(r);
}
