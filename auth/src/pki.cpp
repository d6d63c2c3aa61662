// Development PKI (pki.hpp): RSA keys and X.509 certificates built with the OpenSSL X509 API.
// CAs get basicConstraints CA:TRUE (critical), keyUsage keyCertSign+cRLSign (critical), SKI
// and (for intermediates and roots alike) AKI. Device certificates get, unless told otherwise
// for negative tests, v3, keyUsage digitalSignature (critical), SKI and AKI.

#include "portcullis/auth/pki.hpp"

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "openssl_util.hpp"
#include "text_error.hpp"

namespace portcullis::auth::pki {
namespace {

using namespace detail;

struct signer {
  x509_ptr cert;  // null for self-signed
  evp_pkey_ptr key;
};

result<signer> load_signer(const issued& who) {
  signer s;
  s.cert = parse_pem_cert(who.cert_pem);
  s.key = parse_pem_private_key(who.key_pem);
  if (!s.cert) {
    return text_error{"issuer: unreadable certificate PEM"};
  }
  if (!s.key) {
    return text_error{"issuer: private key: " + std::string(unreadable_key_reason(who.key_pem))};
  }
  return s;
}

}  // namespace

result<void> check_issuer(const issued& issuer) {
  auto s = load_signer(issuer);
  if (!s) return text_error{s.error()};
  if (X509_check_private_key(s->cert.get(), s->key.get()) != 1) {
    drain_errors();
    return text_error{"issuer: the private key does not belong to the certificate"};
  }
  // 1: basicConstraints CA:TRUE (and keyCertSign, if keyUsage is present).
  if (X509_check_ca(s->cert.get()) != 1) {
    drain_errors();
    return text_error{"issuer: the certificate is not a CA (needs basicConstraints CA:TRUE and keyCertSign)"};
  }
  return {};
}

namespace {

result<evp_pkey_ptr> key_for(const std::optional<std::string>& pem, unsigned bits = 2048) {
  if (pem) {
    auto key = parse_pem_private_key(*pem);
    if (!key) {
      return text_error{"key_pem: not a PEM private key"};
    }
    return key;
  }
  evp_pkey_ptr key(EVP_RSA_gen(bits));
  if (!key) {
    return text_error{with_errors("RSA key generation failed")};
  }
  return key;
}

bool set_time(ASN1_TIME* field, std::int64_t epoch) {
  return ASN1_TIME_set(field, static_cast<time_t>(epoch)) != nullptr;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  x509_extension_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// Common skeleton: version, random serial, subject CN (+O), issuer, validity, public key.
result<x509_ptr> skeleton(std::string_view cn, std::string_view org, X509* issuer, EVP_PKEY* key,
                          const validity& valid, bool v3) {
  x509_ptr cert(X509_new());
  bignum_ptr serial(BN_new());
  if (!cert || !serial || X509_set_version(cert.get(), v3 ? X509_VERSION_3 : X509_VERSION_1) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return text_error{with_errors("cannot allocate certificate")};
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!org.empty() && X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                                 reinterpret_cast<const unsigned char*>(org.data()),
                                                 static_cast<int>(org.size()), -1, 0) != 1) {
    return text_error{with_errors("bad organization")};
  }
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1) {
    return text_error{with_errors("bad common name")};
  }
  if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1 ||
      !set_time(X509_getm_notBefore(cert.get()), valid.not_before) ||
      !set_time(X509_getm_notAfter(cert.get()), valid.not_after) || X509_set_pubkey(cert.get(), key) != 1) {
    return text_error{with_errors("cannot fill certificate")};
  }
  return cert;
}

result<issued> finish(x509_ptr cert, EVP_PKEY* signing_key, EVP_PKEY* subject_key) {
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) {
    return text_error{with_errors("signing the certificate failed")};
  }
  issued out{cert_to_pem(cert.get()), private_key_to_pem(subject_key)};
  drain_errors();
  if (out.cert_pem.empty() || out.key_pem.empty()) {
    return text_error{"PEM encoding failed"};
  }
  return out;
}

}  // namespace

validity days_from(std::int64_t now, int days) {
  return {now - 3600, now + static_cast<std::int64_t>(days) * 86400};
}

result<std::string> generate_rsa_key(unsigned bits) {
  auto key = key_for(std::nullopt, bits);
  if (!key) {
    return text_error{key.error()};
  }
  return text_value(private_key_to_pem(key->get()));
}

result<issued> make_ca(std::string_view common_name, const issued* parent, const ca_options& options) {
  auto key = key_for(options.key_pem);
  if (!key) {
    return text_error{key.error()};
  }
  signer parent_signer;
  if (parent != nullptr) {
    auto s = load_signer(*parent);
    if (!s) {
      return text_error{s.error()};
    }
    parent_signer = std::move(*s);
  }
  X509* issuer = parent_signer.cert.get();
  auto cert = skeleton(common_name, "", issuer, key->get(), options.valid, true);
  if (!cert) {
    return text_error{cert.error()};
  }
  X509* self = cert->get();
  std::string bc = options.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (options.is_ca && options.path_length) {
    bc += ",pathlen:" + std::to_string(*options.path_length);
  }
  bool ok = add_ext(self, issuer ? issuer : self, NID_basic_constraints, bc.c_str()) &&
            add_ext(self, issuer ? issuer : self, NID_key_usage,
                    options.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
            add_ext(self, issuer ? issuer : self, NID_subject_key_identifier, "hash") &&
            add_ext(self, issuer ? issuer : self, NID_authority_key_identifier, "keyid:always");
  if (!ok) {
    return text_error{with_errors("cannot add CA extensions")};
  }
  return finish(std::move(*cert), issuer ? parent_signer.key.get() : key->get(), key->get());
}

result<issued> make_device_cert(std::string_view common_name, const issued& issuer_pem, const device_options& options) {
  auto key = key_for(options.key_pem);
  if (!key) {
    return text_error{key.error()};
  }
  auto issuer = load_signer(issuer_pem);
  if (!issuer) {
    return text_error{issuer.error()};
  }
  auto cert = skeleton(common_name, options.organization, issuer->cert.get(), key->get(), options.valid,
                       options.version3);
  if (!cert) {
    return text_error{cert.error()};
  }
  if (options.version3) {
    X509* self = cert->get();
    X509* by = issuer->cert.get();
    bool ok = add_ext(self, by, NID_basic_constraints, "critical,CA:FALSE") &&
              add_ext(self, by, NID_subject_key_identifier, "hash");
    if (ok && options.include_key_usage) {
      ok = add_ext(self, by, NID_key_usage,
                   options.digital_signature ? "critical,digitalSignature,keyEncipherment" : "critical,keyEncipherment");
    }
    if (ok && options.include_aki) {
      ok = add_ext(self, by, NID_authority_key_identifier, "keyid:always");
    }
    if (ok && options.client_auth_eku) {
      ok = add_ext(self, by, NID_ext_key_usage, "clientAuth");
    }
    if (!ok) {
      return text_error{with_errors("cannot add device extensions")};
    }
  }
  return finish(std::move(*cert), issuer->key.get(), key->get());
}

result<issued> make_verification_cert(std::string_view registration_code, const issued& ca, const validity& valid) {
  device_options options;
  options.valid = valid;
  return make_device_cert(registration_code, ca, options);
}

result<issued> make_server_cert(std::string_view common_name, const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses, const issued& issuer_pem,
                                const validity& valid) {
  auto key = key_for(std::nullopt);
  if (!key) {
    return text_error{key.error()};
  }
  auto issuer = load_signer(issuer_pem);
  if (!issuer) {
    return text_error{issuer.error()};
  }
  auto cert = skeleton(common_name, "", issuer->cert.get(), key->get(), valid, true);
  if (!cert) {
    return text_error{cert.error()};
  }
  std::string san;
  for (const auto& d : dns_names) {
    san += (san.empty() ? "DNS:" : ",DNS:") + d;
  }
  for (const auto& ip : ip_addresses) {
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }
  X509* self = cert->get();
  X509* by = issuer->cert.get();
  bool ok = add_ext(self, by, NID_basic_constraints, "critical,CA:FALSE") &&
            add_ext(self, by, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
            add_ext(self, by, NID_ext_key_usage, "serverAuth") &&
            add_ext(self, by, NID_subject_key_identifier, "hash") &&
            add_ext(self, by, NID_authority_key_identifier, "keyid:always") &&
            (san.empty() || add_ext(self, by, NID_subject_alt_name, san.c_str()));
  if (!ok) {
    return text_error{with_errors("cannot add server extensions")};
  }
  return finish(std::move(*cert), issuer->key.get(), key->get());
}

}  // namespace portcullis::auth::pki
