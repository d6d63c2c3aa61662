// Shared PKI fixture and JWS builder for the auth unit tests (see test_pki.hpp).

#include "test_pki.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "portcullis/auth/pem.hpp"
#include "portcullis/auth/token.hpp"

namespace portcullis::auth::test {
namespace {

pki::issued must(pki::result<pki::issued> r) {
  if (!r) {
    throw std::runtime_error("test PKI: " + r.error());
  }
  return *r;
}

std::string must_key(unsigned bits) {
  auto k = pki::generate_rsa_key(bits);
  if (!k) {
    throw std::runtime_error("test PKI: " + k.error());
  }
  return *k;
}

pki::device_options device_opts(const std::string& key) {
  pki::device_options o;
  o.valid = pki::days_from(now, 365);
  o.key_pem = key;
  return o;
}

fixture build() {
  fixture f;
  f.device_key = must_key(2048);
  f.other_key = must_key(2048);
  pki::ca_options ca;
  ca.valid = pki::days_from(now, 3650);
  f.root = must(pki::make_ca("Acme Root", nullptr, ca));
  f.intermediate = must(pki::make_ca("Acme Intermediate", &f.root, ca));
  f.sub_intermediate = must(pki::make_ca("Acme Sub Intermediate", &f.intermediate, ca));
  f.evil_root = must(pki::make_ca("Evil Root", nullptr, ca));
  auto opts = device_opts(f.device_key);
  f.device = must(pki::make_device_cert(client_id, f.intermediate, opts));
  f.device_by_root = must(pki::make_device_cert(client_id, f.root, opts));
  f.device_by_sub = must(pki::make_device_cert(client_id, f.sub_intermediate, opts));
  f.evil_device = must(pki::make_device_cert(client_id, f.evil_root, opts));

  auto o = opts;
  o.valid = {now - 2 * 86400, now - 86400};
  f.expired_device = must(pki::make_device_cert(client_id, f.intermediate, o));
  o.valid = {now + 86400, now + 2 * 86400};
  f.future_device = must(pki::make_device_cert(client_id, f.intermediate, o));
  o = opts;
  o.version3 = false;
  f.v1_device = must(pki::make_device_cert(client_id, f.intermediate, o));
  o = opts;
  o.include_key_usage = false;
  f.no_ku_device = must(pki::make_device_cert(client_id, f.intermediate, o));
  o = opts;
  o.digital_signature = false;
  f.no_ds_device = must(pki::make_device_cert(client_id, f.intermediate, o));
  o = opts;
  o.include_aki = false;
  f.no_aki_device = must(pki::make_device_cert(client_id, f.intermediate, o));
  o = opts;
  o.key_pem = must_key(1024);
  f.small_key_device = must(pki::make_device_cert(client_id, f.intermediate, o));

  pki::ca_options old = ca;
  old.valid = {now - 20 * 86400, now - 86400};
  f.expired_intermediate = must(pki::make_ca("Acme Old Intermediate", &f.root, old));
  o = opts;
  o.valid = {now - 3 * 86400, now + 86400};
  f.device_under_expired = must(pki::make_device_cert(client_id, f.expired_intermediate, o));

  f.root_store = trust_store::create({{"ca-root", tenant, f.der(f.root)}});
  f.intermediate_store = trust_store::create({{"ca-int", tenant, f.der(f.intermediate)}});
  f.empty_store = trust_store::empty();
  f.other_tenant_store = trust_store::create({{"ca-root", "other", f.der(f.root)}});
  return f;
}

}  // namespace

pki::issued resigned(const pki::issued& who, const std::string& key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_in(BIO_new_mem_buf(who.cert_pem.data(), static_cast<int>(who.cert_pem.size())),
                                                    &BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_in(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                                   &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cert_in.get(), nullptr, nullptr, nullptr),
                                                   &X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_in.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!cert || !key || X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    throw std::runtime_error("test PKI: cannot re-sign a certificate");
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  if (!out || PEM_write_bio_X509(out.get(), cert.get()) != 1) {
    throw std::runtime_error("test PKI: cannot write a certificate");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(out.get(), &data);
  return pki::issued{std::string(data, static_cast<std::size_t>(n)), who.key_pem};
}

std::vector<std::uint8_t> fixture::der(const pki::issued& who) const {
  auto ders = certificates_from_pem(who.cert_pem);
  if (!ders || ders->size() != 1) {
    throw std::runtime_error("test PKI: bad PEM");
  }
  return ders->front();
}

std::string fixture::x5c_entry(const pki::issued& who) const {
  auto d = der(who);
  std::string b64 = base64url_encode({reinterpret_cast<const char*>(d.data()), d.size()});
  for (char& c : b64) {
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (b64.size() % 4 != 0) {
    b64 += '=';
  }
  return b64;
}

const fixture& pki_fixture() {
  static const fixture f = build();
  return f;
}

std::string quote(const std::string& s) {
  return "\"" + s + "\"";
}

namespace {
void set(std::vector<std::pair<std::string, std::string>>& v, const std::string& name, const std::string& raw) {
  for (auto& kv : v) {
    if (kv.first == name) {
      kv.second = raw;
      return;
    }
  }
  v.emplace_back(name, raw);
}
void drop(std::vector<std::pair<std::string, std::string>>& v, const std::string& name) {
  std::erase_if(v, [&](const auto& kv) { return kv.first == name; });
}
std::string object(const std::vector<std::pair<std::string, std::string>>& v) {
  std::string out = "{";
  for (const auto& [name, raw] : v) {
    out += (out.size() > 1 ? "," : "") + quote(name) + ":" + raw;
  }
  return out + "}";
}
}  // namespace

jwt_builder& jwt_builder::set_header(const std::string& name, const std::string& raw_json) {
  set(header, name, raw_json);
  return *this;
}
jwt_builder& jwt_builder::drop_header(const std::string& name) {
  drop(header, name);
  return *this;
}
jwt_builder& jwt_builder::set_claim(const std::string& name, const std::string& raw_json) {
  set(claims, name, raw_json);
  return *this;
}
jwt_builder& jwt_builder::drop_claim(const std::string& name) {
  drop(claims, name);
  return *this;
}
std::string jwt_builder::header_json() const {
  return object(header);
}
std::string jwt_builder::claims_json() const {
  return object(claims);
}
std::string jwt_builder::build() const {
  auto token = sign_jws(header_json(), claims_json(), key_pem);
  if (!token) {
    throw std::runtime_error("test JWS: " + token.error());
  }
  return *token;
}

jwt_builder valid_builder(const pki::issued& device, const std::vector<const pki::issued*>& chain) {
  const auto& f = pki_fixture();
  jwt_builder b;
  std::string x5c = "[" + quote(f.x5c_entry(device));
  for (const auto* c : chain) {
    x5c += "," + quote(f.x5c_entry(*c));
  }
  x5c += "]";
  b.set_header("alg", quote("RS256")).set_header("typ", quote("JWT")).set_header("x5c", x5c);
  b.set_claim("jti", quote("cee313f5-dca3-44e5-8dbe-8fd9354e847a"))
      .set_claim("iss", quote(client_id))
      .set_claim("sub", quote(client_id))
      .set_claim("aud", "[\"MQTTBroker\"]")
      .set_claim("iat", std::to_string(now))
      .set_claim("nbf", std::to_string(now))
      .set_claim("exp", std::to_string(now + 600))
      .set_claim("schemas", "[\"urn:siemens:mindsphere:v1\"]")
      .set_claim("ten", quote(""));
  b.key_pem = f.device_key;
  return b;
}

jwt_builder valid_builder() {
  const auto& f = pki_fixture();
  return valid_builder(f.device, {&f.intermediate, &f.root});
}

}  // namespace portcullis::auth::test
