#pragma once
// PEM <-> DER conversion and certificate facts for the broker and tools (which must not
// include OpenSSL headers themselves).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace portcullis::auth {

/// Every CERTIFICATE block of `pem`, as DER, in file order. Error when there is none or one is
/// malformed. Thread-safety: reentrant.
boost::system::result<std::vector<std::vector<std::uint8_t>>, std::string> certificates_from_pem(
    std::string_view pem);

/// DER → PEM ("-----BEGIN CERTIFICATE-----..."). Error when the DER does not parse.
boost::system::result<std::string, std::string> certificate_to_pem(const std::vector<std::uint8_t>& der);

/// Facts shown to operators and stored with a CA.
struct certificate_facts {
  std::string subject;      ///< RFC 2253
  std::string issuer;       ///< RFC 2253
  std::string common_name;  ///< first CN of the subject ("" if none)
  std::string sha256;       ///< of the DER, lowercase hex
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  bool is_ca = false;       ///< basicConstraints CA:TRUE
};
boost::system::result<certificate_facts, std::string> inspect_certificate(const std::vector<std::uint8_t>& der);

}  // namespace portcullis::auth
