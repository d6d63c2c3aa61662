#pragma once
// Development PKI (`portcullis pki`, unit and integration tests): RSA keys, tenant CAs and
// intermediates, device certificates (also deliberately broken ones: expired, v1, without
// keyUsage or AKI), verification certificates for CA onboarding (SPEC §4.4), and TLS server
// certificates. Everything is PEM in, PEM out. Times are explicit epoch seconds (STYLE §c40).
// Not for production key management: keys are written unencrypted.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace portcullis::auth::pki {

/// A certificate with its private key, both PEM.
struct issued {
  std::string cert_pem;
  std::string key_pem;
};

struct validity {
  std::int64_t not_before = 0;  ///< epoch s
  std::int64_t not_after = 0;   ///< epoch s
};
/// [now - 1 h, now + days].
validity days_from(std::int64_t now, int days);

template <class T>
using result = boost::system::result<T, std::string>;

/// A fresh RSA private key (PKCS#8 PEM). 2048 bits takes ~50–200 ms.
result<std::string> generate_rsa_key(unsigned bits = 2048);

struct ca_options {
  validity valid;
  std::optional<std::string> key_pem;   ///< reuse this key instead of generating one
  std::optional<int> path_length;       ///< basicConstraints pathlen
  bool is_ca = true;                    ///< false: basicConstraints CA:FALSE (a "fake CA")
};
/// Self-signed root when `parent` is null, else an intermediate signed by parent.
/// basicConstraints CA:TRUE critical, keyUsage keyCertSign+cRLSign critical, SKI, AKI.
result<issued> make_ca(std::string_view common_name, const issued* parent, const ca_options& options);

struct device_options {
  validity valid;
  std::optional<std::string> key_pem;   ///< reuse this key instead of generating one
  bool include_key_usage = true;
  bool digital_signature = true;        ///< keyUsage includes digitalSignature (else keyEncipherment only)
  bool include_aki = true;
  bool version3 = true;                 ///< false: X.509 v1 (no extensions at all)
  std::string organization;             ///< optional O= in the subject
  bool client_auth_eku = false;         ///< add extendedKeyUsage clientAuth
};
/// Whether `issuer` can sign what the broker will accept: its certificate and key parse, the key
/// is the certificate's, and the certificate is a CA (basicConstraints CA:TRUE, keyCertSign
/// when keyUsage is present). The make_* functions do not check this themselves (tests build
/// deliberately broken chains with them); the `pki` command does, before it writes anything.
result<void> check_issuer(const issued& issuer);

/// A device (end-entity) certificate with subject CN=`common_name`, issued by `issuer`.
result<issued> make_device_cert(std::string_view common_name, const issued& issuer,
                                const device_options& options);

/// SPEC §4.4 proof of possession: a certificate with CN = registration code, its own fresh key,
/// issuer = the CA's subject, signed with the CA's private key.
result<issued> make_verification_cert(std::string_view registration_code, const issued& ca,
                                      const validity& valid);

/// TLS server certificate with subjectAltName DNS/IP entries, serverAuth EKU.
result<issued> make_server_cert(std::string_view common_name, const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses, const issued& issuer,
                                const validity& valid);

}  // namespace portcullis::auth::pki
