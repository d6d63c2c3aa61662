// `portcullis token explain`: the verifier's own rule sequence in record-everything mode
// (x5c_jwt_checks), plus a verification-free decode of the token for display.

#include "portcullis/auth/explain.hpp"

#include "base64.hpp"
#include "chain_validation.hpp"
#include "jws.hpp"
#include "openssl_util.hpp"
#include "strict_json.hpp"
#include "x5c_jwt_checks.hpp"

namespace portcullis::auth {

std::vector<rule_result> explain_x5c_jwt(std::string_view username, std::string_view password,
                                         std::string_view client_id, const trust_store& store,
                                         const x5c_options& options, std::int64_t now,
                                         std::optional<identity>* accepted) {
  std::vector<rule_result> results;
  detail::rule_log log(&results);
  auto id = detail::run_x5c_jwt_checks(username, password, client_id, store, options, now, nullptr, log);
  if (accepted != nullptr) *accepted = std::move(id);  // none unless every rule passed
  detail::drain_errors();
  return results;
}

boost::system::result<decoded_jws, auth_failure> decode_jws(std::string_view token) {
  detail::rule_log log;
  auto jws = detail::parse_jws(token, log);
  if (!jws) {
    return log.failure();
  }
  decoded_jws out;
  out.claims_json = detail::pretty(jws->claims);
  rapidjson::Document header;
  header.CopyFrom(jws->header, header.GetAllocator());
  if (header.HasMember("x5c")) {
    auto ders = detail::decode_x5c(&header["x5c"], log);
    if (!ders) {
      return log.failure();
    }
    auto chain = detail::parse_chain(*ders, reason::jwt_x5c, log);
    if (!chain) {
      return log.failure();
    }
    for (const auto& cert : *chain) {
      out.certificates.push_back(detail::subject_of(cert.get()) + " | issuer " + detail::issuer_of(cert.get()) +
                                 " | notAfter " + detail::format_time(detail::not_after_of(cert.get())));
    }
    header["x5c"].SetString(("<" + std::to_string(chain->size()) + " certificates>").c_str(), header.GetAllocator());
  }
  out.header_json = detail::pretty(header);
  detail::drain_errors();
  return out;
}

}  // namespace portcullis::auth
