#pragma once
// Who a verified client is: the output of every successful verifier (x5c JWT, mTLS). The broker
// uses it for binding (tenant, subject_dn), provisioning, tenant isolation and token expiry.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::auth {

/// A client id's length as the `auth.client_id` bounds count it: characters (UTF-8 code
/// points), as seed 000 does ("cannot exceed 128 chars"). The one definition for the
/// broker's CONNECT check and the verifiers'.
std::size_t client_id_length(std::string_view client_id) noexcept;

/// A verified client. Plain value; distinct objects: safe; shared objects: read-only safe.
struct identity {
  std::string tenant;       ///< tenant owning the CA the chain validated against
  std::string client_id;    ///< the MQTT client id (equals iss/sub, or the certificate CN)
  /// Device certificate subject, RFC 2253 string form (most specific RDN first, UTF-8 kept
  /// as-is, e.g. "CN=dev-1,O=Acme,C=DE"); OpenSSL X509_NAME_print_ex(XN_FLAG_RFC2253 &
  /// ~ASN1_STRFLGS_ESC_MSB). Deterministic for a given DER, so it is the binding key.
  std::string subject_dn;
  std::string cert_sha256;  ///< SHA-256 of the device certificate DER, lowercase hex
  std::string ca_id;        ///< trust_anchor::id of the matched tenant CA
  std::string ca_sha256;    ///< SHA-256 of the matched CA's DER, lowercase hex
  std::optional<std::int64_t> expires_at;  ///< token exp (x5c JWT only); nullopt for mTLS
  std::int64_t chain_not_after = 0;  ///< earliest notAfter (epoch s) over the validated chain
  std::string jti;          ///< token id (x5c JWT only), for logs
  std::string method;       ///< "x5c-jwt" or "mtls"
};

}  // namespace portcullis::auth
