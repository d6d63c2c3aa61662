// SPEC §4.4 CA upload checks: accepted upload and each refusal code.

#include "portcullis/auth/ca_onboarding.hpp"

#include <catch2/catch.hpp>

#include "portcullis/auth/pem.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

std::string code_of_upload(const boost::system::result<ca_info, ca_upload_error>& r) {
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  return r.error().code;
}

}  // namespace

TEST_CASE("CA onboarding", "[auth][onboarding]") {
  const auto& f = pki_fixture();
  const std::string code = "0123456789abcdef0123456789abcdef";
  auto verification = pki::make_verification_cert(code, f.root, pki::days_from(now, 1));
  REQUIRE(verification);

  SECTION("accepted: CA facts and the registration code") {
    auto r = inspect_ca_upload(f.root.cert_pem, verification->cert_pem, now);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    CHECK(r->verification_cn == code);
    CHECK(r->subject == "CN=Acme Root");
    CHECK(r->sha256.size() == 64);
    CHECK(r->der == f.der(f.root));
    CHECK(r->not_before <= now);
    CHECK(r->not_after > now);
  }
  SECTION("an intermediate CA can be onboarded too") {
    auto v = pki::make_verification_cert(code, f.intermediate, pki::days_from(now, 1));
    REQUIRE(v);
    CHECK(inspect_ca_upload(f.intermediate.cert_pem, v->cert_pem, now));
  }
  SECTION("not a CA") {
    auto v = pki::make_verification_cert(code, f.device, pki::days_from(now, 1));
    REQUIRE(v);
    CHECK(code_of_upload(inspect_ca_upload(f.device.cert_pem, v->cert_pem, now)) == "ca.not_ca");
  }
  SECTION("expired CA") {
    auto v = pki::make_verification_cert(code, f.expired_intermediate, pki::days_from(now, 1));
    REQUIRE(v);
    CHECK(code_of_upload(inspect_ca_upload(f.expired_intermediate.cert_pem, v->cert_pem, now)) == "ca.expired");
  }
  SECTION("CA not yet valid") {
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, verification->cert_pem, now - 7200)) ==
          "ca.not_yet_valid");
  }
  SECTION("verification signed by another key") {
    // Same issuer name as the root, but signed by the look-alike's key.
    pki::ca_options ca;
    ca.valid = pki::days_from(now, 30);
    ca.key_pem = f.other_key;
    auto fake = pki::make_ca("Acme Root", nullptr, ca);
    REQUIRE(fake);
    auto v = pki::make_verification_cert(code, *fake, pki::days_from(now, 1));
    REQUIRE(v);
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, v->cert_pem, now)) == "verification.signature");
  }
  SECTION("verification certificate outside its validity period: verification.expired") {
    auto stale = pki::make_verification_cert(code, f.root, pki::validity{now - 7200, now - 3600});
    REQUIRE(stale);
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, stale->cert_pem, now)) == "verification.expired");
    auto future = pki::make_verification_cert(code, f.root, pki::validity{now + 3600, now + 7200});
    REQUIRE(future);
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, future->cert_pem, now)) == "verification.expired");
    // Made "now" on a clock a minute ahead of the broker's: accepted.
    auto ahead = pki::make_verification_cert(code, f.root, pki::validity{now + 60, now + 3600});
    REQUIRE(ahead);
    CHECK(inspect_ca_upload(f.root.cert_pem, ahead->cert_pem, now));
  }
  SECTION("verification issued by another CA name") {
    auto v = pki::make_verification_cert(code, f.evil_root, pki::days_from(now, 1));
    REQUIRE(v);
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, v->cert_pem, now)) == "verification.issuer");
    // The signature is the proof (SPEC §4.4): another issuer name over the CA key's signature passes.
    auto renamed = resigned(*v, f.root.key_pem);
    CHECK(inspect_ca_upload(f.root.cert_pem, renamed.cert_pem, now));
  }
  SECTION("bad PEMs") {
    CHECK(code_of_upload(inspect_ca_upload("garbage", verification->cert_pem, now)) == "ca.pem");
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem + f.intermediate.cert_pem, verification->cert_pem,
                                           now)) == "ca.pem");
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, "garbage", now)) == "verification.pem");
  }
  SECTION("a private key beside the certificate is refused, not skipped") {
    auto r = inspect_ca_upload(f.root.cert_pem + f.root.key_pem, verification->cert_pem, now);
    CHECK(code_of_upload(r) == "ca.pem");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("private key") != std::string::npos);
    CHECK(code_of_upload(inspect_ca_upload(f.root.cert_pem, f.root.key_pem + verification->cert_pem, now)) ==
          "verification.pem");
  }
}

TEST_CASE("PEM helpers", "[auth][pem]") {
  const auto& f = pki_fixture();
  auto ders = certificates_from_pem(f.intermediate.cert_pem + f.root.cert_pem);
  REQUIRE(ders);
  REQUIRE(ders->size() == 2);
  auto facts = inspect_certificate((*ders)[0]);
  REQUIRE(facts);
  CHECK(facts->subject == "CN=Acme Intermediate");
  CHECK(facts->issuer == "CN=Acme Root");
  CHECK(facts->is_ca);
  auto pem = certificate_to_pem((*ders)[1]);
  REQUIRE(pem);
  CHECK(*pem == f.root.cert_pem);
  CHECK_FALSE(certificates_from_pem("nothing here"));
  CHECK_FALSE(inspect_certificate({1, 2, 3}));
}

TEST_CASE("server certificate", "[auth][pki]") {
  const auto& f = pki_fixture();
  auto s = pki::make_server_cert("localhost", {"localhost"}, {"127.0.0.1"}, f.root, pki::days_from(now, 30));
  REQUIRE(s);
  auto ders = certificates_from_pem(s->cert_pem);
  REQUIRE(ders);
  auto facts = inspect_certificate(ders->front());
  REQUIRE(facts);
  CHECK(facts->common_name == "localhost");
  CHECK_FALSE(facts->is_ca);
}
