#pragma once
// The broker configuration (SPEC §3): plain structs whose member initialisers are
// the documented defaults (one source of truth), loaded from JSON with comments,
// validated in one pass that names the dotted key of the first error.
//
// Thread safety: a loaded config is immutable and shared as shared_ptr<const config>.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace portcullis::broker {

/// Start-up failure caused by the configuration; `key()` is the dotted path
/// ("limits.rate.action", "listeners[1].tls.cert"). main() prints one line, exits 2.
class config_error : public std::runtime_error {
 public:
  config_error(std::string key, const std::string& message)
      : std::runtime_error(key + ": " + message), key_(std::move(key)) {}
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

enum class client_cert_mode : std::uint8_t { none, optional, required };

struct tls_config {
  std::string cert;
  std::string key;
  client_cert_mode client_certs = client_cert_mode::none;
};

struct listener_config {
  std::string name;
  std::string bind;       // "host:port", "[v6]:port"; port 0 = pick a free one
  std::string protocol;   // "mqtt" | "http"
  std::vector<std::string> auth;  // mqtt only: "x5c-jwt", "mtls", "anonymous", tried in order
  std::optional<tls_config> tls;
  // Derived by validation:
  std::string host;
  std::uint16_t port = 0;
};

struct rate_config {
  double messages = 1;
  double per_seconds = 5;
  double burst = 5;
  bool disconnect = false;  // "action": "throttle" (false) | "disconnect" (true)
  bool enabled = true;      // "enabled": false switches the limiter off (benchmarks)
};

struct limits_config {
  std::uint32_t max_packet_bytes = 24576;
  rate_config rate;
  std::int64_t session_expiry_seconds = 86400;
  std::int64_t message_expiry_seconds = 86400;
  std::uint32_t max_queued_messages = 1000;
  std::uint32_t max_inflight = 20;
  std::uint32_t max_connections = 100000;
  std::int64_t connect_timeout_seconds = 10;
};

struct x5c_jwt_config {
  std::string username = "_CertificateBearer";
  std::string audience = "MQTTBroker";
  std::vector<std::string> schemas = {"urn:siemens:mindsphere:v1"};
  std::int64_t max_lifetime_seconds = 3600;
  std::int64_t clock_skew_seconds = 60;
  bool disconnect_on_expiry = true;
};

struct auth_config {
  x5c_jwt_config x5c_jwt;
  std::string anonymous_tenant = "default";
  std::uint32_t client_id_min_length = 16;
  std::uint32_t client_id_max_length = 128;
  std::uint32_t agents_per_tenant = 50;
};

struct config {
  std::string data_dir = "var";
  std::vector<listener_config> listeners;  // defaults applied by load when the key is absent
  std::optional<std::string> admin_token_file;
  limits_config limits;
  auth_config auth;
  bool ignore_unsupported_features = false;  // mqtt.unsupported_features: "reject" | "ignore"
  std::uint32_t workers = 0;                  // 0 = one per core
  std::string log_level = "info";
  std::string log_format = "text";
  std::string source;                         // the file it came from ("" = built-in defaults)
};

/// The defaults of SPEC §3 (mqtt on 127.0.0.1:1883 with x5c-jwt, admin on 127.0.0.1:8080).
config default_config();

/// Loads and validates `path` (JSON, comments and trailing commas allowed); keys
/// absent from the file keep their defaults. Throws config_error.
config load_config(const std::string& path);

/// Parses and validates a JSON text (for tests and check-config). Throws config_error.
config parse_config(const std::string& json_text, const std::string& source_name);

/// Validation pass (also run by load/parse): the first error as config_error.
void validate(config& c);

/// The effective configuration as pretty JSON (check-config).
std::string to_json(const config& c);
/// Settings that are valid but probably not meant (check-config prints them, serve logs them).
std::vector<std::string> config_warnings(const config& c);

}  // namespace portcullis::broker
