// PEM <-> DER and certificate facts for code that must not include OpenSSL (pem.hpp).

#include "portcullis/auth/pem.hpp"

#include "openssl_util.hpp"
#include "text_error.hpp"

namespace portcullis::auth {

boost::system::result<std::vector<std::vector<std::uint8_t>>, std::string> certificates_from_pem(std::string_view pem) {
  auto certs = detail::parse_pem_certs(pem);
  if (!certs) {
    return detail::text_error{"not one or more well-formed PEM certificates"};
  }
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& c : *certs) {
    out.push_back(detail::to_der(c.get()));
  }
  return out;
}

boost::system::result<std::string, std::string> certificate_to_pem(const std::vector<std::uint8_t>& der) {
  auto cert = detail::parse_der(der);
  if (!cert) {
    return detail::text_error{"not a DER certificate"};
  }
  return detail::text_value(detail::cert_to_pem(cert.get()));
}

boost::system::result<certificate_facts, std::string> inspect_certificate(const std::vector<std::uint8_t>& der) {
  auto cert = detail::parse_der(der);
  if (!cert) {
    return detail::text_error{"not a DER certificate"};
  }
  certificate_facts f;
  f.subject = detail::subject_of(cert.get());
  f.issuer = detail::issuer_of(cert.get());
  f.common_name = detail::common_name_of(cert.get());
  f.sha256 = detail::sha256_hex_of(der);
  f.not_before = detail::not_before_of(cert.get());
  f.not_after = detail::not_after_of(cert.get());
  f.is_ca = detail::is_ca_cert(cert.get());
  return f;
}

}  // namespace portcullis::auth
