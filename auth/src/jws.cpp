// Compact JWS parsing and the non-cryptographic header/claim rules (SPEC §4.1, jws.hpp), plus
// the RS256 signature check. Numbers: iat/exp/nbf must be JSON integers (1.0, "1", 1e3 are
// refused) within [0, 253402300799] (year 9999), which also keeps exp - iat from overflowing.

#include "jws.hpp"

#include <array>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "base64.hpp"
#include "openssl_util.hpp"
#include "strict_json.hpp"

namespace portcullis::auth::detail {
namespace {

constexpr std::int64_t max_time = 253402300799;  // 9999-12-31T23:59:59Z
constexpr std::size_t max_string_claim = 36;
constexpr int min_rsa_bits = 2048;

const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string_view view(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

std::string quoted(std::string_view s) {
  constexpr std::size_t max_shown = 64;  // details stay one short line
  std::string out = "\"";
  out += s.substr(0, max_shown);
  out += s.size() > max_shown ? "...\"" : "\"";
  return out;
}

// Reads an integer time claim; records `r` as failed and returns nullopt when malformed.
std::optional<std::int64_t> time_claim(const rapidjson::Value* v, const char* name, reason r, bool required,
                                       rule_log& log) {
  if (v == nullptr) {
    if (required) {
      log.fail(r, std::string(name) + " claim missing");
    }
    return std::nullopt;
  }
  if (!v->IsInt64()) {
    log.fail(r, std::string(name) + " is not an integer");
    return std::nullopt;
  }
  std::int64_t t = v->GetInt64();
  if (t < 0 || t > max_time) {
    log.fail(r, std::string(name) + " " + std::to_string(t) + " is out of range");
    return std::nullopt;
  }
  return t;
}

void check_string_equals(const rapidjson::Value* v, const char* name, reason r, std::string_view expected,
                         rule_log& log) {
  if (v == nullptr) {
    log.fail(r, std::string(name) + " claim missing");
  } else if (!v->IsString()) {
    log.fail(r, std::string(name) + " is not a string");
  } else {
    log.check(view(*v) == expected, r,
              std::string(name) + " " + quoted(view(*v)) + (view(*v) == expected ? " is" : " is not") +
                  " the client id " + quoted(expected));
  }
}

void check_aud(const rapidjson::Value* v, const std::string& audience, rule_log& log) {
  if (v == nullptr) {
    log.fail(reason::jwt_aud, "aud claim missing");
    return;
  }
  if (v->IsString()) {
    log.check(view(*v) == audience, reason::jwt_aud, "aud " + quoted(view(*v)) + ", want " + quoted(audience));
    return;
  }
  if (!v->IsArray()) {
    log.fail(reason::jwt_aud, "aud is neither a string nor an array");
    return;
  }
  bool found = false;
  for (const auto& e : v->GetArray()) {
    if (!e.IsString()) {
      log.fail(reason::jwt_aud, "aud array holds a non-string");
      return;
    }
    found = found || view(e) == audience;
  }
  log.check(found, reason::jwt_aud, std::string("aud array ") + (found ? "contains " : "lacks ") + quoted(audience));
}

void check_schemas(const rapidjson::Value* v, const std::vector<std::string>& schemas, rule_log& log) {
  if (v == nullptr) {
    log.fail(reason::jwt_schemas, "schemas claim missing");
    return;
  }
  if (!v->IsArray()) {
    log.fail(reason::jwt_schemas, "schemas is not an array");
    return;
  }
  bool equal = v->Size() == schemas.size();
  for (rapidjson::SizeType i = 0; equal && i < v->Size(); ++i) {
    equal = (*v)[i].IsString() && view((*v)[i]) == schemas[i];
  }
  std::string want;
  for (const auto& s : schemas) {
    want += (want.empty() ? "" : ", ") + quoted(s);
  }
  log.check(equal, reason::jwt_schemas, equal ? "schemas [" + want + "]" : "schemas must be exactly [" + want + "]");
}

void check_times(const rapidjson::Document& claims, const x5c_options& options, std::int64_t now, rule_log& log,
                 claim_values& out) {
  const std::int64_t skew = options.clock_skew_seconds;
  auto iat = time_claim(member(claims, "iat"), "iat", reason::jwt_iat, true, log);
  if (iat) {
    log.check(*iat <= now + skew, reason::jwt_iat,
              "iat " + std::to_string(*iat) + " is " + std::to_string(*iat - now) + " s from now (skew " +
                  std::to_string(skew) + " s)");
  }
  auto exp = time_claim(member(claims, "exp"), "exp", reason::jwt_exp, true, log);
  if (exp) {
    out.exp = exp;
    bool ok = now < *exp + skew;
    log.check(ok, reason::jwt_exp,
              ok ? "exp " + std::to_string(*exp) + " is " + std::to_string(*exp - now) + " s ahead"
                 : "exp " + std::to_string(*exp) + " is " + std::to_string(now - *exp) + " s in the past (skew " +
                       std::to_string(skew) + " s)");
  }
  const auto* nbf_value = member(claims, "nbf");
  if (auto nbf = time_claim(nbf_value, "nbf", reason::jwt_nbf, false, log)) {
    log.check(*nbf <= now + skew, reason::jwt_nbf,
              "nbf " + std::to_string(*nbf) + " is " + std::to_string(*nbf - now) + " s from now (skew " +
                  std::to_string(skew) + " s)");
  } else if (nbf_value == nullptr) {
    log.pass(reason::jwt_nbf, "no nbf claim");
  }
  if (iat && exp) {
    std::int64_t lifetime = *exp - *iat;
    log.check(lifetime > 0 && lifetime <= options.max_lifetime_seconds, reason::jwt_lifetime,
              "exp - iat = " + std::to_string(lifetime) + " s (allowed 1.." +
                  std::to_string(options.max_lifetime_seconds) + ")");
  } else {
    log.fail(reason::jwt_lifetime, "lifetime unknown: iat or exp unusable");
  }
}

}  // namespace

std::string_view jws_header_part(std::string_view token) {
  auto dot = token.find('.');
  return dot == std::string_view::npos ? std::string_view() : token.substr(0, dot);
}

std::optional<parsed_jws> parse_jws(std::string_view token, rule_log& log, bool decode_header) {
  if (token.size() > max_password_bytes) {
    log.fail(reason::jwt_format, "password is " + std::to_string(token.size()) + " bytes, limit " +
                                     std::to_string(max_password_bytes));
    return std::nullopt;
  }
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    log.fail(reason::jwt_format, "not three '.'-separated parts");
    return std::nullopt;
  }
  const std::string_view parts[3] = {token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1),
                                     token.substr(dot2 + 1)};
  static constexpr const char* names[3] = {"header", "payload", "signature"};
  std::vector<std::uint8_t> decoded[3];
  for (int i = decode_header ? 0 : 1; i < 3; ++i) {
    auto bytes = decode_base64url(parts[i]);
    if (!bytes) {
      log.fail(reason::jwt_format, std::string(names[i]) + " is not unpadded base64url");
      return std::nullopt;
    }
    decoded[i] = std::move(*bytes);
  }
  parsed_jws out;
  for (int i = decode_header ? 0 : 1; i < 2; ++i) {
    std::string_view json(reinterpret_cast<const char*>(decoded[i].data()), decoded[i].size());
    auto doc = parse_strict_object(json);
    if (!doc) {
      log.fail(reason::jwt_format, std::string(names[i]) + " JSON: " + doc.error());
      return std::nullopt;
    }
    (i == 0 ? out.header : out.claims) = std::move(*doc);
  }
  out.signing_input = token.substr(0, dot2);
  out.signature = std::move(decoded[2]);
  log.pass(reason::jwt_format, "compact JWS, " + std::to_string(token.size()) + " bytes");
  return out;
}

void check_header(const rapidjson::Document& header, rule_log& log) {
  const auto* alg = member(header, "alg");
  if (alg == nullptr || !alg->IsString()) {
    log.fail(reason::jwt_alg, alg == nullptr ? "header has no alg" : "alg is not a string");
  } else {
    log.check(view(*alg) == "RS256", reason::jwt_alg, "alg " + quoted(view(*alg)) + ", only \"RS256\" accepted");
  }
  if (log.stop()) {
    return;
  }
  const auto* typ = member(header, "typ");
  if (typ == nullptr || !typ->IsString()) {
    log.fail(reason::jwt_typ, typ == nullptr ? "header has no typ" : "typ is not a string");
  } else {
    log.check(view(*typ) == "JWT", reason::jwt_typ, "typ " + quoted(view(*typ)) + ", only \"JWT\" accepted");
  }
  if (log.stop()) {
    return;
  }
  // The verification key comes from x5c[0] and nowhere else (no key confusion via jwk/jku/x5u).
  for (const char* name : {"jwk", "jku", "x5u"}) {
    if (member(header, name) != nullptr) {
      log.fail(reason::jwt_x5c, std::string("header carries \"") + name + "\"; keys are taken only from x5c");
      return;
    }
  }
  if (member(header, "crit") != nullptr) {
    log.fail(reason::jwt_format, "header carries \"crit\"; no JWS extensions are supported");
  }
}

claim_values check_claims(const rapidjson::Document& claims, std::string_view client_id, const x5c_options& options,
                          std::int64_t now, rule_log& log) {
  claim_values out;
  const auto* jti = member(claims, "jti");
  if (jti == nullptr || !jti->IsString()) {
    log.fail(reason::jwt_jti, jti == nullptr ? "jti claim missing" : "jti is not a string");
  } else {
    out.jti.assign(jti->GetString(), jti->GetStringLength());
    std::size_t n = utf8_length(out.jti);
    log.check(n >= 1 && n <= max_string_claim, reason::jwt_jti, "jti has " + std::to_string(n) + " characters (1-36)");
  }
  if (log.stop()) {
    return out;
  }
  check_string_equals(member(claims, "iss"), "iss", reason::jwt_iss, client_id, log);
  if (log.stop()) {
    return out;
  }
  check_string_equals(member(claims, "sub"), "sub", reason::jwt_sub, client_id, log);
  if (log.stop()) {
    return out;
  }
  check_aud(member(claims, "aud"), options.audience, log);
  if (log.stop()) {
    return out;
  }
  check_times(claims, options, now, log, out);
  if (log.stop()) {
    return out;
  }
  check_schemas(member(claims, "schemas"), options.schemas, log);
  if (log.stop()) {
    return out;
  }
  const auto* ten = member(claims, "ten");
  if (ten == nullptr) {
    // Seed 000 marks only nbf optional; a device that means "no tenant" sends "ten": "".
    log.fail(reason::jwt_ten, "no ten claim (required; \"\" when the device does not name its tenant)");
  } else if (!ten->IsString()) {
    log.fail(reason::jwt_ten, "ten is not a string");
  } else {
    out.ten.assign(ten->GetString(), ten->GetStringLength());
    std::size_t n = utf8_length(out.ten);
    log.check(n <= max_string_claim, reason::jwt_ten, "ten has " + std::to_string(n) + " characters (at most 36)");
  }
  return out;
}

void check_tenant(const claim_values& values, const std::string& ca_tenant, rule_log& log) {
  if (values.ten.empty()) {
    log.pass(reason::jwt_ten, "ten empty; tenant " + quoted(ca_tenant) + " from the CA");
    return;
  }
  log.check(values.ten == ca_tenant, reason::jwt_ten,
            "ten " + quoted(values.ten) + (values.ten == ca_tenant ? " owns" : " does not own") + " the CA (tenant " +
                quoted(ca_tenant) + ")");
}

namespace {

void log_signature(const parsed_jws& jws, int rc, rule_log& log) {
  log.check(rc == 1, reason::jwt_signature,
            rc == 1 ? "RS256 signature verifies with the device key"
                    : "RS256 signature (" + std::to_string(jws.signature.size()) +
                          " bytes) does not verify with the device key");
}

bool usable_rs256_key(EVP_PKEY* key) {
  return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) >= min_rsa_bits;
}

}  // namespace

std::shared_ptr<const EVP_PKEY_CTX> make_rs256_context(EVP_PKEY* key, OSSL_LIB_CTX* libctx) {
  if (key == nullptr || !usable_rs256_key(key)) {
    return nullptr;
  }
  evp_pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(libctx, key, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) <= 0) {
    drain_errors();
    return nullptr;
  }
  return std::shared_ptr<const EVP_PKEY_CTX>(ctx.release(), [](const EVP_PKEY_CTX* c) {
    EVP_PKEY_CTX_free(const_cast<EVP_PKEY_CTX*>(c));
  });
}

void check_signature(const parsed_jws& jws, EVP_PKEY* key, OSSL_LIB_CTX* libctx, rule_log& log,
                     const EVP_PKEY_CTX* prepared) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    log.fail(reason::jwt_signature, "device key is not RSA (RS256 needs RSA)");
    return;
  }
  if (EVP_PKEY_get_bits(key) < min_rsa_bits) {
    log.fail(reason::jwt_signature, "device RSA key has " + std::to_string(EVP_PKEY_get_bits(key)) +
                                        " bits, at least 2048 required");
    return;
  }
  const auto* input = reinterpret_cast<const unsigned char*>(jws.signing_input.data());
  if (const EVP_MD* sha256 = thread_sha256(); prepared != nullptr && sha256 != nullptr) {
    // The same check as below: the PKCS#1 v1.5 encoding of the SHA-256 digest of the signing
    // input must be what the signature opens to with the device key.
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    evp_pkey_ctx_ptr ctx(EVP_PKEY_CTX_dup(prepared));
    if (ctx && EVP_Digest(input, jws.signing_input.size(), digest.data(), &digest_len, sha256, nullptr) == 1) {
      int rc = EVP_PKEY_verify(ctx.get(), jws.signature.data(), jws.signature.size(), digest.data(), digest_len);
      drain_errors();
      log_signature(jws, rc, log);
      return;
    }
    drain_errors();  // the long way below
  }
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pctx, "SHA256", libctx, nullptr, key, nullptr) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
    log.fail(reason::internal, with_errors("cannot set up RS256 verification"));
    return;
  }
  int rc = EVP_DigestVerify(ctx.get(), jws.signature.data(), jws.signature.size(), input, jws.signing_input.size());
  drain_errors();
  log_signature(jws, rc, log);
}

}  // namespace portcullis::auth::detail
