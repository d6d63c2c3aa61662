// Configuration: defaults, overrides, and one clear error naming the key.

#include "portcullis/broker/config.hpp"

#include <catch2/catch.hpp>

using namespace portcullis::broker;

namespace {
std::string error_key(const std::string& json) {
  try {
    parse_config(json, "");
  } catch (const config_error& e) {
    return e.key();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("defaults are SPEC §3", "[config]") {
  auto c = parse_config("{}", "");
  REQUIRE(c.data_dir == "var");
  REQUIRE(c.limits.max_packet_bytes == 24576);
  REQUIRE(c.limits.rate.messages == 1);
  REQUIRE(c.limits.rate.per_seconds == 5);
  REQUIRE(c.limits.rate.burst == 5);
  REQUIRE_FALSE(c.limits.rate.disconnect);
  REQUIRE(c.limits.session_expiry_seconds == 86400);
  REQUIRE(c.limits.max_inflight == 20);
  REQUIRE(c.auth.x5c_jwt.username == "_CertificateBearer");
  REQUIRE(c.auth.client_id_min_length == 16);
  REQUIRE(c.auth.client_id_max_length == 128);
  REQUIRE(c.auth.agents_per_tenant == 50);
  REQUIRE(c.listeners.size() == 2);
  REQUIRE(c.listeners[0].port == 1883);
}

TEST_CASE("comments, trailing commas and overrides", "[config]") {
  auto c = parse_config(R"({
    // a comment
    "limits": { "rate": { "action": "disconnect" }, "max_inflight": 5, },
    "mqtt": { "unsupported_features": "ignore" } /* block */
  })", "");
  REQUIRE(c.limits.rate.disconnect);
  REQUIRE(c.limits.max_inflight == 5);
  REQUIRE(c.ignore_unsupported_features);
}

TEST_CASE("errors name the dotted key", "[config]") {
  REQUIRE(error_key(R"({"limits": {"bogus": 1}})") == "limits.bogus");
  REQUIRE(error_key(R"({"limits": {"max_inflight": "x"}})") == "limits.max_inflight");
  REQUIRE(error_key(R"({"limits": {"rate": {"action": "explode"}}})") == "limits.rate.action");
  REQUIRE(error_key(R"({"listeners": [{"name": "m", "bind": "127.0.0.1:99999", "protocol": "mqtt", "auth": ["anonymous"]}]})") ==
          "listeners[0].bind");
  REQUIRE(error_key(R"({"listeners": [{"name": "m", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["magic"]}]})") ==
          "listeners[0].auth[0]");
  REQUIRE(error_key(R"({"listeners": [{"name": "m", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["x5c-jwt"],
      "tls": {"cert": "/nonexistent.crt", "key": "/nonexistent.key"}}]})") == "listeners[0].tls.cert");
  REQUIRE(error_key(R"({"listeners": [{"name": "m", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["mtls"]}]})") ==
          "listeners[0].auth[0]");
  REQUIRE(error_key(R"({"auth": {"client_id": {"min_length": 10, "max_length": 5}}})") == "auth.client_id.min_length");
  REQUIRE(error_key(R"({"auth": {"anonymous_tenant": "bad tenant!"}})") == "auth.anonymous_tenant");
  REQUIRE(error_key(R"({"data_dir": 5})") == "data_dir");
  REQUIRE(error_key(R"({"limits": )") == "(syntax)");
}

TEST_CASE("effective config round-trips through check-config output", "[config]") {
  auto c = parse_config(R"({"limits": {"max_queued_messages": 7}})", "");
  auto again = parse_config(to_json(c), "");
  REQUIRE(again.limits.max_queued_messages == 7);
  REQUIRE(to_json(again) == to_json(c));
}
