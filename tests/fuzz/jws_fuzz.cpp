// Fuzz target: the x5c JWT path from untrusted bytes (STYLE §c41).
//
// The input is used as the MQTT CONNECT password (a compact JWS) and checked three ways:
// verify_x5c_jwt, explain_x5c_jwt and decode_jws, against an empty trust store at a fixed
// time (every chain ends in x5c.no_tenant_ca at the latest, so the parsers — base64url, strict
// JSON, header and claim rules, x5c base64/DER — are what gets exercised). Invariants:
// nothing crashes or leaks; verify never accepts (no CA); verify's reason is the first failing
// rule explain reports (they share one rule sequence); explain reports at least one failure;
// the OpenSSL error queue is empty afterwards. The input is also fed to verify_mtls as a
// one-certificate DER chain. Any violation aborts (libFuzzer crash / fuzz_replay failure).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <openssl/err.h>

#include "fuzz_registry.hpp"
#include "portcullis/auth/explain.hpp"
#include "portcullis/auth/mtls_verifier.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"

namespace {

using namespace portcullis::auth;

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)

constexpr std::int64_t fuzz_now = 1'700'000'000;
constexpr std::string_view fuzz_client_id = "device-0001-abcdef";

}  // namespace

int portcullis_fuzz_jws(const std::uint8_t* data, std::size_t size);

int portcullis_fuzz_jws(const std::uint8_t* data, std::size_t size) {
  static const auto store = trust_store::empty();
  const x5c_options options;
  const std::string_view password(reinterpret_cast<const char*>(data), size);

  auto verified = verify_x5c_jwt(options.username, password, fuzz_client_id, *store, options, fuzz_now);
  FUZZ_CHECK(!verified.has_value());
  FUZZ_CHECK(ERR_peek_error() == 0);

  auto rules = explain_x5c_jwt(options.username, password, fuzz_client_id, *store, options, fuzz_now);
  FUZZ_CHECK(ERR_peek_error() == 0);
  const rule_result* first_failure = nullptr;
  for (const auto& r : rules) {
    if (!r.passed) {
      first_failure = &r;
      break;
    }
  }
  FUZZ_CHECK(first_failure != nullptr);
  FUZZ_CHECK(first_failure->rule == code_of(verified.error().code));

  (void)decode_jws(password);
  FUZZ_CHECK(ERR_peek_error() == 0);

  auto mtls = verify_mtls({std::vector<std::uint8_t>(data, data + size)}, fuzz_client_id, *store, fuzz_now);
  FUZZ_CHECK(!mtls.has_value());
  FUZZ_CHECK(ERR_peek_error() == 0);
  return 0;
}

#if defined(PORTCULLIS_FUZZ_TARGET_JWS)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return portcullis_fuzz_jws(data, size);
}
#else
PORTCULLIS_FUZZ_REGISTER(jws, portcullis_fuzz_jws)
#endif
