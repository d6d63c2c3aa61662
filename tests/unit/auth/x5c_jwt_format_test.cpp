// x5c JWT: the JWS envelope, header and CONNECT field rules (SPEC §4.1): jwt.format, jwt.alg,
// jwt.typ, jwt.x5c, auth.username, client_id.length. Each refused case checks the reason code.

#include "portcullis/auth/x5c_jwt_verifier.hpp"

#include <catch2/catch.hpp>

#include "portcullis/auth/token.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

boost::system::result<identity, auth_failure> verify(const std::string& token, const std::string& id = client_id,
                                                     const std::string& username = "_CertificateBearer") {
  return verify_x5c_jwt(username, token, id, *pki_fixture().root_store, x5c_options{}, now);
}

reason refusal(const boost::system::result<identity, auth_failure>& r) {
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().detail);
  return r.error().code;
}

std::string b64url(const std::string& s) {
  return base64url_encode(s);
}

}  // namespace

TEST_CASE("x5c JWT accepted with every field right", "[auth][x5c]") {
  const auto& f = pki_fixture();
  auto r = verify(valid_builder().build());
  INFO((r ? std::string() : r.error().detail));
  REQUIRE(r.has_value());
  CHECK(r->tenant == "acme");
  CHECK(r->client_id == client_id);
  CHECK(r->subject_dn == std::string("CN=") + client_id);
  CHECK(r->ca_id == "ca-root");
  CHECK(r->ca_sha256.size() == 64);
  CHECK(r->cert_sha256.size() == 64);
  CHECK(r->cert_sha256 != r->ca_sha256);
  CHECK(r->expires_at == now + 600);
  CHECK(r->jti == "cee313f5-dca3-44e5-8dbe-8fd9354e847a");
  CHECK(r->method == "x5c-jwt");
  CHECK(r->chain_not_after > now);
  (void)f;
}

TEST_CASE("CONNECT fields", "[auth][x5c]") {
  auto token = valid_builder().build();
  SECTION("username must be the configured bearer name") {
    CHECK(refusal(verify(token, client_id, "someone")) == reason::auth_username);
    CHECK(refusal(verify(token, client_id, "")) == reason::auth_username);
  }
  SECTION("client id 15 bytes is refused with CONNACK 0x02") {
    auto r = verify(token, std::string(15, 'a'));
    CHECK(refusal(r) == reason::client_id_length);
    CHECK(connack_of(r.error().code) == 0x02);
  }
  SECTION("client id 16 and 128 bytes pass the length rule") {
    for (std::size_t n : {16u, 128u}) {
      std::string id(n, 'a');
      auto b = valid_builder();
      b.set_claim("iss", quote(id)).set_claim("sub", quote(id));
      auto r = verify(b.build(), id);
      INFO((r ? std::string() : r.error().detail));
      CHECK(r.has_value());
    }
  }
  SECTION("client id 129 bytes is refused") {
    CHECK(refusal(verify(token, std::string(129, 'a'))) == reason::client_id_length);
  }
}

TEST_CASE("jwt.format", "[auth][x5c]") {
  auto b = valid_builder();
  auto token = b.build();
  auto dot = token.rfind('.');
  SECTION("two parts") {
    CHECK(refusal(verify(token.substr(0, dot))) == reason::jwt_format);
  }
  SECTION("four parts") {
    CHECK(refusal(verify(token + ".AAAA")) == reason::jwt_format);
  }
  SECTION("empty password") {
    CHECK(refusal(verify("")) == reason::jwt_format);
  }
  SECTION("base64url padding refused") {
    CHECK(refusal(verify(token + "=")) == reason::jwt_format);
  }
  SECTION("standard-base64 '+' refused") {
    std::string t = token;
    t[dot + 5] = '+';
    CHECK(refusal(verify(t)) == reason::jwt_format);
  }
  SECTION("whitespace refused") {
    CHECK(refusal(verify(" " + token)) == reason::jwt_format);
  }
  SECTION("header not JSON") {
    CHECK(refusal(verify(b64url("not json") + token.substr(token.find('.')))) == reason::jwt_format);
  }
  SECTION("header a JSON array, not an object") {
    CHECK(refusal(verify(b64url("[1]") + token.substr(token.find('.')))) == reason::jwt_format);
  }
  SECTION("claims not an object") {
    auto first = token.find('.');
    CHECK(refusal(verify(token.substr(0, first + 1) + b64url("\"x\"") + token.substr(dot))) == reason::jwt_format);
  }
  SECTION("duplicate header key (alg twice)") {
    auto h = b.header_json();
    h.insert(1, "\"alg\":\"none\",");
    auto t = sign_jws(h, b.claims_json(), b.key_pem);
    REQUIRE(t);
    auto r = verify(*t);
    CHECK(refusal(r) == reason::jwt_format);
    CHECK(r.error().detail.find("duplicate") != std::string::npos);
  }
  SECTION("duplicate claim key (exp twice)") {
    auto c = b.claims_json();
    c.insert(1, "\"exp\":9999999999,");
    auto t = sign_jws(b.header_json(), c, b.key_pem);
    REQUIRE(t);
    CHECK(refusal(verify(*t)) == reason::jwt_format);
  }
  SECTION("trailing content after the JSON object") {
    auto t = sign_jws(b.header_json() + " {}", b.claims_json(), b.key_pem);
    REQUIRE(t);
    CHECK(refusal(verify(*t)) == reason::jwt_format);
  }
  SECTION("content after a NUL byte, in the header or the claims") {
    auto h = sign_jws(b.header_json() + std::string("\0,\"alg\":\"none\"}", 15), b.claims_json(), b.key_pem);
    REQUIRE(h);
    CHECK(refusal(verify(*h)) == reason::jwt_format);
    auto c = sign_jws(b.header_json(), b.claims_json() + std::string("\0{}", 3), b.key_pem);
    REQUIRE(c);
    CHECK(refusal(verify(*c)) == reason::jwt_format);
  }
  SECTION("deep nesting refused before parsing") {
    b.set_claim("deep", std::string(100, '[') + std::string(100, ']'));
    CHECK(refusal(verify(b.build())) == reason::jwt_format);
  }
  SECTION("a token of 22 KiB (within a 24 KiB packet) is accepted") {
    const std::size_t base = b.build().size();
    REQUIRE(base < 20 * 1024);
    b.set_claim("pad", quote(std::string((22 * 1024 - base) * 3 / 4 - 16, 'x')));  // base64url: 4/3
    auto big = b.build();
    REQUIRE(big.size() > 20 * 1024);
    REQUIRE(big.size() < 23 * 1024);
    CHECK(verify(big).has_value());
  }
  SECTION("password over 64 KiB (MQTT's own limit)") {
    b.set_claim("pad", quote(std::string(65 * 1024, 'x')));
    CHECK(refusal(verify(b.build())) == reason::jwt_format);
  }
  SECTION("crit header refused") {
    b.set_header("crit", "[\"exp\"]");
    CHECK(refusal(verify(b.build())) == reason::jwt_format);
  }
}

TEST_CASE("jwt.alg and jwt.typ", "[auth][x5c]") {
  auto b = valid_builder();
  SECTION("alg none") {
    b.set_header("alg", quote("none"));
    auto t = b.build();
    CHECK(refusal(verify(t.substr(0, t.rfind('.') + 1))) == reason::jwt_alg);
  }
  SECTION("alg HS256") {
    b.set_header("alg", quote("HS256"));
    CHECK(refusal(verify(b.build())) == reason::jwt_alg);
  }
  SECTION("alg RS512 and RS384") {
    b.set_header("alg", quote("RS512"));
    CHECK(refusal(verify(b.build())) == reason::jwt_alg);
    b.set_header("alg", quote("RS384"));
    CHECK(refusal(verify(b.build())) == reason::jwt_alg);
  }
  SECTION("alg lowercase rs256") {
    b.set_header("alg", quote("rs256"));
    CHECK(refusal(verify(b.build())) == reason::jwt_alg);
  }
  SECTION("alg missing or not a string") {
    b.drop_header("alg");
    CHECK(refusal(verify(b.build())) == reason::jwt_alg);
    b.set_header("alg", "[\"RS256\"]");
    CHECK(refusal(verify(b.build())) == reason::jwt_alg);
  }
  SECTION("typ wrong") {
    b.set_header("typ", quote("JOSE"));
    CHECK(refusal(verify(b.build())) == reason::jwt_typ);
  }
  SECTION("typ missing") {
    b.drop_header("typ");
    CHECK(refusal(verify(b.build())) == reason::jwt_typ);
  }
  SECTION("jwk header (key confusion) refused") {
    b.set_header("jwk", "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("jku header refused") {
    b.set_header("jku", quote("https://evil.example/keys"));
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
}

TEST_CASE("jwt.x5c", "[auth][x5c]") {
  const auto& f = pki_fixture();
  auto b = valid_builder();
  SECTION("missing") {
    b.drop_header("x5c");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("not an array") {
    b.set_header("x5c", quote(f.x5c_entry(f.device)));
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("0 certificates") {
    b.set_header("x5c", "[]");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("4 certificates") {
    auto d = quote(f.x5c_entry(f.device));
    auto i = quote(f.x5c_entry(f.intermediate));
    auto r = quote(f.x5c_entry(f.root));
    b.set_header("x5c", "[" + d + "," + i + "," + r + "," + r + "]");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("3 certificates (device, intermediate, root) accepted") {
    auto c = valid_builder(f.device, {&f.intermediate, &f.root});
    auto r = verify(c.build());
    INFO((r ? std::string() : r.error().detail));
    CHECK(r.has_value());
  }
  SECTION("entry not a string") {
    b.set_header("x5c", "[42]");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("entry base64url instead of standard base64") {
    auto e = f.x5c_entry(f.device);
    for (char& c : e) {
      c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    while (!e.empty() && e.back() == '=') {
      e.pop_back();
    }
    b.set_header("x5c", "[" + quote(e) + "]");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("entry is base64 of garbage (bad DER)") {
    b.set_header("x5c", "[\"AAECAwQF\"]");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
  SECTION("entry with trailing bytes after the DER") {
    auto der = f.der(f.device);
    der.push_back(0);
    std::string s = base64url_encode({reinterpret_cast<const char*>(der.data()), der.size()});
    for (char& c : s) {
      c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (s.size() % 4 != 0) {
      s += '=';
    }
    b.set_header("x5c", "[" + quote(s) + "]");
    CHECK(refusal(verify(b.build())) == reason::jwt_x5c);
  }
}
