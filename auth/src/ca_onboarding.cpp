// Tenant CA upload checks (SPEC §4.4, rules and codes in ca_onboarding.hpp). The proof of
// possession is the verification certificate: its signature must verify with the uploaded
// CA's public key, and its CN is the registration code the broker then redeems.

#include "portcullis/auth/ca_onboarding.hpp"

#include "openssl_util.hpp"

namespace portcullis::auth {
namespace {

using detail::format_time;

constexpr std::int64_t verification_skew_seconds = 300;

ca_upload_error error(std::string code, std::string message) {
  detail::drain_errors();
  return {std::move(code), std::move(message)};
}

}  // namespace

boost::system::result<ca_info, ca_upload_error> inspect_ca_upload(std::string_view ca_pem,
                                                                  std::string_view verification_pem,
                                                                  std::int64_t now) {
  // PEM readers skip blocks of other types, so a key pasted beside the certificate would pass
  // unnoticed. The CA's private key must never leave its owner: refuse the upload and say why.
  constexpr std::string_view key_label = "PRIVATE KEY-----";
  if (ca_pem.find(key_label) != std::string_view::npos) {
    return error("ca.pem", "the certificate field contains a private key: upload the CA certificate only");
  }
  if (verification_pem.find(key_label) != std::string_view::npos) {
    return error("verification.pem",
                 "the verification certificate field contains a private key: upload the certificate only");
  }
  auto cas = detail::parse_pem_certs(ca_pem);
  if (!cas || cas->size() != 1) {
    return error("ca.pem", cas ? "upload exactly one CA certificate" : "certificate is not a PEM certificate");
  }
  X509* ca = cas->front().get();
  if (!detail::is_ca_cert(ca)) {
    return error("ca.not_ca", "certificate is not a CA (basicConstraints CA:TRUE missing)");
  }
  // A keyUsage without keyCertSign forbids the CA to issue certificates: path validation would
  // refuse every device under it (x5c.chain "invalid CA certificate"). Say so now.
  if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) == 0) {
    return error("ca.key_usage", "CA keyUsage lacks keyCertSign: it may not issue device certificates");
  }
  // Path validation refuses every device under a weak CA key (chain_security_level): say so now.
  if (EVP_PKEY* key = X509_get0_pubkey(ca); key != nullptr && EVP_PKEY_get_security_bits(key) < detail::min_security_bits) {
    return error("ca.weak_key", "CA key is " + std::string(EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?") +
                                    " " + std::to_string(EVP_PKEY_get_bits(key)) + " bits (" +
                                    std::to_string(EVP_PKEY_get_security_bits(key)) +
                                    "-bit security); at least 112-bit security is required (RSA 2048, EC P-256)");
  }
  ca_info info;
  info.not_before = detail::not_before_of(ca);
  info.not_after = detail::not_after_of(ca);
  if (now < info.not_before) {
    return error("ca.not_yet_valid", "CA is not valid before " + format_time(info.not_before));
  }
  if (now > info.not_after) {
    return error("ca.expired", "CA expired at " + format_time(info.not_after));
  }
  auto verifications = detail::parse_pem_certs(verification_pem);
  if (!verifications || verifications->size() != 1) {
    return error("verification.pem", verifications ? "upload exactly one verification certificate"
                                                   : "verification certificate is not a PEM certificate");
  }
  X509* verification = verifications->front().get();
  info.verification_cn = detail::common_name_of(verification);
  if (info.verification_cn.empty()) {
    return error("verification.no_cn", "verification certificate has no subject CN (the registration code)");
  }
  // The proof is fresh: made for a code at most an hour old. Five minutes of clock skew are
  // allowed for a verification certificate made "now" on a clock ahead of ours.
  if (std::int64_t nb = detail::not_before_of(verification); now + verification_skew_seconds < nb) {
    return error("verification.expired", "verification certificate is not valid before " + format_time(nb));
  }
  if (std::int64_t na = detail::not_after_of(verification); now > na) {
    return error("verification.expired", "verification certificate expired at " + format_time(na));
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca);
  if (ca_key == nullptr || X509_verify(verification, ca_key) != 1) {
    // The proof is the signature (SPEC §4.4); the issuer name only explains a failure: the
    // usual mistake is a verification certificate made with another CA.
    if (X509_NAME_cmp(X509_get_issuer_name(verification), X509_get_subject_name(ca)) != 0) {
      return error("verification.issuer", "verification certificate was issued by " + detail::issuer_of(verification) +
                                              ", not by the uploaded CA " + detail::subject_of(ca));
    }
    return error("verification.signature", "verification certificate is not signed by the CA's private key");
  }
  info.der = detail::to_der(ca);
  info.sha256 = detail::sha256_hex_of(info.der);
  info.subject = detail::subject_of(ca);
  detail::drain_errors();
  return info;
}

}  // namespace portcullis::auth
