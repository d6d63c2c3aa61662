#pragma once
// The pluggable point where a CONNECT meets authentication. The connection hands
// over what it knows (listener methods, CONNECT fields, TLS peer chain) and gets
// back, on its own executor, either an accepted identity (tenant, client id,
// subject, method, token expiry) or a refusal (CONNACK code + stable reason code).
// Methods are tried in the listener's order; the first that *applies* decides
// (x5c-jwt applies when the username is the configured bearer name, mtls when a
// client certificate was presented, anonymous always).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <portcullis/auth/peer_chain.hpp>

namespace portcullis::broker {

struct auth_request {
  std::string listener;
  std::vector<std::string> methods;               // the listener's `auth` list
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;            // binary; never logged
  auth::peer_chain peer_chain;                    // TLS client chain, leaf first (DER + libssl's parse)
  bool client_cert_required = false;              // listener tls.client_certs "required"
  std::string remote;                             // "ip:port"
};

struct auth_outcome {
  bool accepted = false;
  std::uint8_t connack_code = 0x04;
  std::string reason;       // stable code, e.g. "jwt.exp" (refusals)
  std::string detail;       // for operators; never contains secrets
  std::string tenant;
  std::string client_id;
  std::string subject;      // device certificate subject DN ("" for anonymous)
  std::string method;       // "x5c-jwt" | "mtls" | "anonymous"
  std::string ca_id;        // tenant CA the chain validated against
  std::string jti;
  std::optional<std::int64_t> expires_at;  // token exp (x5c-jwt)
};

using auth_callback = std::function<void(auth_outcome)>;

class auth_gateway {
 public:
  virtual ~auth_gateway() = default;
  /// Starts authentication; `done` is invoked exactly once, from any thread.
  virtual void authenticate(auth_request req, auth_callback done) = 0;
  /// A device with an agent (x5c-jwt, mtls) was last seen at `at` (epoch s): its disconnect.
  /// Batched; any thread.
  virtual void seen(const std::string& tenant, const std::string& client_id, std::int64_t at) = 0;
};

}  // namespace portcullis::broker
