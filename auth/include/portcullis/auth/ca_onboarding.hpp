#pragma once
// Tenant CA upload checks (SPEC §4.4, admin API POST /tenants/{t}/cas). Pure: this verifies
// the uploaded bytes only; the broker then checks verification_cn against the tenant's unused,
// unexpired registration codes and the fingerprint against CAs of other tenants (store).
//
// Rules, in order (error codes are stable, returned to the admin client as "error"):
//   ca.pem                 the CA upload is not exactly one parsable PEM certificate
//   ca.not_ca              basicConstraints CA:TRUE absent
//   ca.weak_key            a key under 112-bit security (RSA < 2048): path validation would refuse
//                          every device under it (chain_security_level)
//   ca.not_yet_valid / ca.expired   `now` outside [notBefore, notAfter]
//   verification.pem       the verification upload is not one parsable PEM certificate
//   verification.no_cn     the verification certificate has no subject CN
//   verification.issuer    its issuer DN is not the CA's subject DN
//   verification.signature its signature does not verify with the CA public key

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace portcullis::auth {

struct ca_info {
  std::vector<std::uint8_t> der;
  std::string sha256;          ///< lowercase hex of the DER
  std::string subject;         ///< RFC 2253
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::string verification_cn; ///< the registration code the uploader proved possession with
};

struct ca_upload_error {
  std::string code;     ///< stable code, e.g. "ca.not_ca"
  std::string message;  ///< human text for the admin API "message"
};

/// Never throws for bad input. Thread-safety: reentrant.
boost::system::result<ca_info, ca_upload_error> inspect_ca_upload(std::string_view ca_pem,
                                                                  std::string_view verification_pem,
                                                                  std::int64_t now);

}  // namespace portcullis::auth
