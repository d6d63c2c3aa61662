#pragma once
// Shared PKI for the auth unit tests, generated once per process with auth's own pki helpers
// (no committed certificates can expire: STYLE §c40). Key generation is the slow part, so a
// handful of keys are reused across many certificates.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "catch_result.hpp"
#include "portcullis/auth/pki.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"

namespace portcullis::auth::test {

inline constexpr std::int64_t now = 1'700'000'000;  // 2023-11-14T22:13:20Z
inline constexpr const char* client_id = "device-0001-abcdef";  // 18 bytes
inline constexpr const char* tenant = "acme";

struct fixture {
  std::string device_key;  // reused by every device certificate
  std::string other_key;   // a second device key ("signed by another key")
  pki::issued root;        // Acme Root (self-signed)
  pki::issued intermediate;          // Acme Intermediate, issued by root
  pki::issued device;                // CN=client_id, issued by intermediate
  pki::issued device_by_root;        // CN=client_id, issued by root directly
  pki::issued sub_intermediate;      // Acme Sub Intermediate, issued by intermediate
  pki::issued device_by_sub;         // CN=client_id, issued by sub_intermediate
  pki::issued evil_root;             // unregistered CA
  pki::issued evil_device;           // issued by evil_root
  pki::issued expired_device, future_device, v1_device, no_ku_device, no_ds_device, no_aki_device;
  pki::issued expired_intermediate;  // issued by root, expired
  pki::issued device_under_expired;  // issued by expired_intermediate (itself valid)
  pki::issued small_key_device;      // RSA-1024 device key

  std::vector<std::uint8_t> der(const pki::issued& who) const;
  std::string x5c_entry(const pki::issued& who) const;  // standard base64 of the DER

  /// Trust stores: root registered for "acme"; only the intermediate; nothing; root for "other".
  std::shared_ptr<const trust_store> root_store, intermediate_store, empty_store, other_tenant_store;
};

/// `who` with its signature replaced by one made with `key_pem`: issuer name, AKI and every other
/// field unchanged (a forged certificate that only the signature check can tell).
pki::issued resigned(const pki::issued& who, const std::string& key_pem);

/// Built on first use (thread-safe static), shared by every test case.
const fixture& pki_fixture();

/// A JWS built from raw JSON pieces, so tests can break any single field.
struct jwt_builder {
  std::vector<std::pair<std::string, std::string>> header;  // name → raw JSON value
  std::vector<std::pair<std::string, std::string>> claims;
  std::string key_pem;

  jwt_builder& set_header(const std::string& name, const std::string& raw_json);
  jwt_builder& drop_header(const std::string& name);
  jwt_builder& set_claim(const std::string& name, const std::string& raw_json);
  jwt_builder& drop_claim(const std::string& name);
  std::string header_json() const;
  std::string claims_json() const;
  std::string build() const;  // RS256-signed with key_pem
};

/// Valid token for `device` with x5c = [device, chain...], iat = now, exp = now + 600.
jwt_builder valid_builder(const pki::issued& device, const std::vector<const pki::issued*>& chain);
/// The default: device issued by intermediate, x5c = [device, intermediate, root] (the
/// registered tenant CA of root_store is in the chain, as SPEC §4.1 requires).
jwt_builder valid_builder();

std::string quote(const std::string& s);

}  // namespace portcullis::auth::test
