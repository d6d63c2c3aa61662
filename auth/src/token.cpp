// Minting x5c JWTs (token.hpp): header {"alg":"RS256","typ":"JWT","x5c":[...]} and the seed 000
// claim set, RS256-signed with the device key. The key must match the device certificate so a
// minted token always verifies (a mismatch is reported instead of producing a dead token).

#include "portcullis/auth/token.hpp"

#include <algorithm>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "base64.hpp"
#include "openssl_util.hpp"
#include "text_error.hpp"
#include "portcullis/auth/secrets.hpp"

namespace portcullis::auth {
namespace {

using detail::drain_errors;

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

boost::system::result<std::string, std::string> der_base64(X509* cert) {
  auto der = detail::to_der(cert);
  if (der.empty()) {
    return detail::text_error{"cannot DER-encode a certificate"};
  }
  return detail::text_value(detail::encode_base64({reinterpret_cast<const char*>(der.data()), der.size()}));
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  return detail::encode_base64url(bytes);
}

boost::system::result<std::string, std::string> sign_jws(std::string_view header_json, std::string_view claims_json,
                                                         std::string_view key_pem) {
  auto key = detail::parse_pem_private_key(key_pem);
  if (!key) {
    return detail::text_error{"private key: " + std::string(detail::unreadable_key_reason(key_pem))};
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return detail::text_error{"private key: not RSA (RS256 needs RSA)"};
  }
  std::string input = detail::encode_base64url(header_json) + "." + detail::encode_base64url(claims_json);
  detail::evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return detail::text_error{detail::with_errors("signing failed")};
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return detail::text_error{detail::with_errors("signing failed")};
  }
  signature.resize(len);
  return detail::text_value(input + "." + detail::encode_base64url(signature));
}

boost::system::result<std::string, std::string> mint_x5c_jwt(const mint_request& request) {
  auto device = detail::parse_pem_cert(request.cert_pem);
  if (!device) {
    return detail::text_error{"certificate: not a PEM certificate"};
  }
  auto key = detail::parse_pem_private_key(request.key_pem);
  if (!key) {
    return detail::text_error{"private key: " + std::string(detail::unreadable_key_reason(request.key_pem))};
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(device.get()), key.get()) != 1) {
    drain_errors();
    return detail::text_error{"private key does not belong to the certificate"};
  }
  rapidjson::Document header(rapidjson::kObjectType);
  auto& a = header.GetAllocator();
  header.AddMember("alg", "RS256", a);
  header.AddMember("typ", "JWT", a);
  // x5c: the device certificate, then the certificates after it in the same file (`pki device`
  // writes its issuer there), then the chain files; a certificate given twice goes in once.
  rapidjson::Value x5c(rapidjson::kArrayType);
  std::vector<std::string> added;
  std::vector<std::string> pems{request.cert_pem};
  pems.insert(pems.end(), request.chain_pems.begin(), request.chain_pems.end());
  for (std::size_t i = 0; i < pems.size(); ++i) {
    auto certs = detail::parse_pem_certs(pems[i]);
    if (!certs) {
      return detail::text_error{i == 0 ? "certificate: not PEM certificates" : "chain: not PEM certificates"};
    }
    for (const auto& cert : *certs) {
      auto b64 = der_base64(cert.get());
      if (!b64) {
        return detail::text_error{b64.error()};
      }
      if (std::find(added.begin(), added.end(), *b64) == added.end()) {
        x5c.PushBack(rapidjson::Value(b64->c_str(), a), a);
        added.push_back(std::move(*b64));
      }
    }
  }
  header.AddMember("x5c", x5c, a);

  rapidjson::Document claims(rapidjson::kObjectType);
  auto& c = claims.GetAllocator();
  std::string jti = request.jti.empty() ? uuid_v4() : request.jti;
  claims.AddMember("jti", rapidjson::Value(jti.c_str(), c), c);
  claims.AddMember("iss", rapidjson::Value(request.client_id.c_str(), c), c);
  claims.AddMember("sub", rapidjson::Value(request.client_id.c_str(), c), c);
  rapidjson::Value aud(rapidjson::kArrayType);
  aud.PushBack(rapidjson::Value(request.audience.c_str(), c), c);
  claims.AddMember("aud", aud, c);
  claims.AddMember("iat", rapidjson::Value(static_cast<std::int64_t>(request.now)), c);
  claims.AddMember("nbf", rapidjson::Value(static_cast<std::int64_t>(request.now)), c);
  claims.AddMember("exp", rapidjson::Value(static_cast<std::int64_t>(request.now + request.lifetime_seconds)), c);
  rapidjson::Value schemas(rapidjson::kArrayType);
  for (const auto& s : request.schemas) {
    schemas.PushBack(rapidjson::Value(s.c_str(), c), c);
  }
  claims.AddMember("schemas", schemas, c);
  claims.AddMember("ten", rapidjson::Value(request.tenant.c_str(), c), c);
  return sign_jws(to_json(header), to_json(claims), request.key_pem);
}

}  // namespace portcullis::auth
