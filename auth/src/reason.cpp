// The one table of auth refusal reasons (STYLE §c17): SPEC code, CONNACK code, description.
// Codes are part of the external contract (logs, /metrics labels, /api/v1/auth-failures).

#include "portcullis/auth/failure.hpp"

#include <array>

namespace portcullis::auth {
namespace {

struct reason_row {
  reason value;
  std::string_view code;
  std::uint8_t connack;
  std::string_view description;
};

constexpr std::uint8_t bad_credentials = 0x04;    // MQTT 3.1.1 §3.2.2.3 "bad user name or password"
constexpr std::uint8_t identifier_rejected = 0x02;

constexpr std::array table{
    reason_row{reason::jwt_format, "jwt.format", bad_credentials, "password is not a well-formed compact JWS with JSON header and claims"},
    reason_row{reason::jwt_alg, "jwt.alg", bad_credentials, "header alg is not RS256"},
    reason_row{reason::jwt_typ, "jwt.typ", bad_credentials, "header typ is not JWT"},
    reason_row{reason::jwt_x5c, "jwt.x5c", bad_credentials, "header x5c is missing or malformed (1-3 base64 DER certificates)"},
    reason_row{reason::jwt_signature, "jwt.signature", bad_credentials, "signature does not verify with the device certificate key"},
    reason_row{reason::jwt_jti, "jwt.jti", bad_credentials, "jti claim missing or not a string of 1-36 characters"},
    reason_row{reason::jwt_iss, "jwt.iss", bad_credentials, "iss claim is not the MQTT client id"},
    reason_row{reason::jwt_sub, "jwt.sub", bad_credentials, "sub claim is not the MQTT client id"},
    reason_row{reason::jwt_aud, "jwt.aud", bad_credentials, "aud claim does not contain the configured audience"},
    reason_row{reason::jwt_iat, "jwt.iat", bad_credentials, "iat claim missing, not an integer, or in the future"},
    reason_row{reason::jwt_exp, "jwt.exp", bad_credentials, "exp claim missing, not an integer, or expired"},
    reason_row{reason::jwt_nbf, "jwt.nbf", bad_credentials, "nbf claim not an integer or not yet reached"},
    reason_row{reason::jwt_lifetime, "jwt.lifetime", bad_credentials, "exp - iat is not within (0, max_lifetime_seconds]"},
    reason_row{reason::jwt_schemas, "jwt.schemas", bad_credentials, "schemas claim is not the configured list"},
    reason_row{reason::jwt_ten, "jwt.ten", bad_credentials, "ten claim malformed or not the tenant owning the CA"},
    reason_row{reason::auth_username, "auth.username", bad_credentials, "username is not the configured certificate bearer name"},
    reason_row{reason::client_id_length, "client_id.length", identifier_rejected, "client id length outside the configured bounds"},
    reason_row{reason::x5c_order, "x5c.order", bad_credentials, "x5c certificates are not in issuer order (device first)"},
    reason_row{reason::x5c_no_tenant_ca, "x5c.no_tenant_ca", bad_credentials, "no registered tenant CA in or above the chain"},
    reason_row{reason::x5c_chain, "x5c.chain", bad_credentials, "certificate path validation failed"},
    reason_row{reason::x5c_expired, "x5c.expired", bad_credentials, "a certificate in the chain is outside its validity period"},
    reason_row{reason::cert_version, "cert.version", bad_credentials, "device certificate is not X.509 v3"},
    reason_row{reason::cert_key_usage, "cert.key_usage", bad_credentials, "device certificate keyUsage missing or without digitalSignature"},
    reason_row{reason::cert_aki, "cert.aki", bad_credentials, "device certificate has no Authority Key Identifier"},
    reason_row{reason::cert_issuer, "cert.issuer", bad_credentials, "device certificate issuer DN is empty"},
    reason_row{reason::cert_subject, "cert.subject", bad_credentials, "device certificate subject DN is empty"},
    reason_row{reason::mtls_no_certificate, "mtls.no_certificate", bad_credentials, "no TLS client certificate presented"},
    reason_row{reason::mtls_chain, "mtls.chain", bad_credentials, "TLS client certificate does not chain to a registered tenant CA"},
    reason_row{reason::mtls_cn_mismatch, "mtls.cn_mismatch", bad_credentials, "client id is not the TLS client certificate CN"},
    reason_row{reason::binding_conflict, "binding.conflict", bad_credentials, "client id is bound to another certificate subject (or vice versa)"},
    reason_row{reason::quota_agents, "quota.agents", bad_credentials, "tenant has reached its agent quota"},
    reason_row{reason::tenant_mismatch, "tenant.mismatch", bad_credentials, "identity belongs to a different tenant"},
    reason_row{reason::internal, "internal", bad_credentials, "internal error while verifying credentials"},
};

constexpr bool table_matches_enum() {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (static_cast<std::size_t>(table[i].value) != i) {
      return false;
    }
  }
  return table.back().value == reason::internal;
}
static_assert(table_matches_enum(), "reason table must list every enumerator in order");

constexpr std::array<reason, table.size()> make_all() {
  std::array<reason, table.size()> out{};
  for (std::size_t i = 0; i < table.size(); ++i) {
    out[i] = table[i].value;
  }
  return out;
}
constexpr auto all = make_all();

const reason_row& row(reason r) noexcept {
  auto i = static_cast<std::size_t>(r);
  return i < table.size() ? table[i] : table.back();
}

}  // namespace

std::string_view code_of(reason r) noexcept {
  return row(r).code;
}

std::uint8_t connack_of(reason r) noexcept {
  return row(r).connack;
}

std::string_view describe(reason r) noexcept {
  return row(r).description;
}

std::span<const reason> all_reasons() noexcept {
  return all;
}

bool reason_from_code(std::string_view code, reason& out) noexcept {
  for (const auto& r : table) {
    if (r.code == code) {
      out = r.value;
      return true;
    }
  }
  return false;
}

}  // namespace portcullis::auth
