// Loads etc/portcullis.json (SPEC §3) into broker::config. Every key has a default
// (the struct initialisers); the file only overrides. Unknown keys, wrong types and
// out-of-range values are refused with the dotted key path, so an operator sees
// e.g. `limits.rate.action: must be "throttle" or "disconnect"` and exit code 2.
// Only this file knows the JSON layout.

#include "portcullis/broker/config.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace portcullis::broker {
namespace {

using json = rapidjson::Value;

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

/// Walks one JSON object: each accessor marks its key as known; finish() refuses
/// any key that no accessor asked for.
class object_reader {
 public:
  object_reader(const json& v, std::string path) : v_(v), path_(std::move(path)) {
    if (!v_.IsObject()) {
      throw config_error(path_.empty() ? "(root)" : path_, "must be an object");
    }
    // RapidJSON keeps every member of a repeated name and FindMember returns the first:
    // a key given twice would silently ignore the second, the one a reader looks at last.
    std::set<std::string_view> seen;
    for (auto it = v_.MemberBegin(); it != v_.MemberEnd(); ++it) {
      std::string_view k(it->name.GetString(), it->name.GetStringLength());
      if (!seen.insert(k).second) throw config_error(join(path_, std::string(k)), "duplicate key");
    }
  }

  const json* find(const char* key) {
    known_.insert(key);
    auto it = v_.FindMember(key);
    return it == v_.MemberEnd() ? nullptr : &it->value;
  }
  std::string path(const char* key) const { return join(path_, key); }

  void string(const char* key, std::string& out) {
    if (const json* v = find(key)) {
      if (!v->IsString()) throw config_error(path(key), "must be a string");
      out = text(*v, path(key));
    }
  }
  void optional_string(const char* key, std::optional<std::string>& out) {
    if (const json* v = find(key)) {
      if (v->IsNull()) {
        out.reset();
      } else if (v->IsString()) {
        out = text(*v, path(key));
      } else {
        throw config_error(path(key), "must be a string or null");
      }
    }
  }
  void boolean(const char* key, bool& out) {
    if (const json* v = find(key)) {
      if (!v->IsBool()) throw config_error(path(key), "must be true or false");
      out = v->GetBool();
    }
  }
  template <class Int>
  void integer(const char* key, Int& out, std::int64_t min, std::int64_t max) {
    if (const json* v = find(key)) {
      if (!v->IsInt64()) throw config_error(path(key), "must be an integer");
      std::int64_t x = v->GetInt64();
      if (x < min || x > max) {
        throw config_error(path(key), "must be between " + std::to_string(min) + " and " + std::to_string(max));
      }
      out = static_cast<Int>(x);
    }
  }
  void number(const char* key, double& out, double min_exclusive) {
    if (const json* v = find(key)) {
      if (!v->IsNumber()) throw config_error(path(key), "must be a number");
      double x = v->GetDouble();
      if (!(x > min_exclusive) || x > 1e9) {
        throw config_error(path(key), "must be greater than " + std::to_string(static_cast<long long>(min_exclusive)));
      }
      out = x;
    }
  }
  void string_list(const char* key, std::vector<std::string>& out) {
    if (const json* v = find(key)) {
      if (!v->IsArray()) throw config_error(path(key), "must be an array of strings");
      out.clear();
      for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
        if (!(*v)[i].IsString()) {
          throw config_error(path(key) + "[" + std::to_string(i) + "]", "must be a string");
        }
        out.emplace_back(text((*v)[i], path(key) + "[" + std::to_string(i) + "]"));
      }
    }
  }
  /// A JSON string may hold U+0000 ("\u0000"); every value here ends up in a C string
  /// (a path, a host name, a tenant id), which would silently end at it.
  static std::string text(const json& v, const std::string& at) {
    std::string out(v.GetString(), v.GetStringLength());
    if (out.find('\0') != std::string::npos) throw config_error(at, "must not contain a NUL character (\\u0000)");
    return out;
  }

  void finish() const {
    for (auto it = v_.MemberBegin(); it != v_.MemberEnd(); ++it) {
      std::string k(it->name.GetString(), it->name.GetStringLength());
      if (k.find('\0') != std::string::npos) {
        throw config_error(join(path_, k.substr(0, k.find('\0'))), "a key must not contain a NUL character (\\u0000)");
      }
      if (!known_.count(k)) throw config_error(join(path_, k), "unknown key");
    }
  }

 private:
  const json& v_;
  std::string path_;
  std::set<std::string> known_;
};

void read_tls(const json& v, const std::string& path, tls_config& tls) {
  object_reader r(v, path);
  r.string("cert", tls.cert);
  r.string("key", tls.key);
  std::string mode = "none";
  r.string("client_certs", mode);
  if (mode == "none") {
    tls.client_certs = client_cert_mode::none;
  } else if (mode == "optional") {
    tls.client_certs = client_cert_mode::optional;
  } else if (mode == "required") {
    tls.client_certs = client_cert_mode::required;
  } else {
    throw config_error(r.path("client_certs"), "must be \"none\", \"optional\" or \"required\"");
  }
  r.finish();
}

void read_listeners(const json& v, const std::string& path, std::vector<listener_config>& out) {
  if (!v.IsArray()) throw config_error(path, "must be an array of listeners");
  out.clear();
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    object_reader r(v[i], p);
    listener_config l;
    r.string("name", l.name);
    r.string("bind", l.bind);
    r.string("protocol", l.protocol);
    r.string_list("auth", l.auth);
    if (const json* t = r.find("tls")) {
      if (!t->IsNull()) {
        l.tls.emplace();
        read_tls(*t, r.path("tls"), *l.tls);
      }
    }
    r.finish();
    out.push_back(std::move(l));
  }
}

void read_limits(const json& v, limits_config& l) {
  object_reader r(v, "limits");
  r.integer("max_packet_bytes", l.max_packet_bytes, 16, 268435455 + 5);
  if (const json* rate = r.find("rate")) {
    object_reader rr(*rate, "limits.rate");
    rr.number("messages", l.rate.messages, 0);
    rr.number("per_seconds", l.rate.per_seconds, 0);
    rr.number("burst", l.rate.burst, 0);
    rr.boolean("enabled", l.rate.enabled);
    std::string action = l.rate.disconnect ? "disconnect" : "throttle";
    rr.string("action", action);
    if (action != "throttle" && action != "disconnect") {
      throw config_error("limits.rate.action", "must be \"throttle\" or \"disconnect\"");
    }
    l.rate.disconnect = action == "disconnect";
    rr.finish();
    if (l.rate.burst < 1) throw config_error("limits.rate.burst", "must be at least 1");
  }
  constexpr std::int64_t ten_years = 10LL * 365 * 86400;
  r.integer("session_expiry_seconds", l.session_expiry_seconds, 0, ten_years);
  r.integer("message_expiry_seconds", l.message_expiry_seconds, 1, ten_years);
  r.integer("max_queued_messages", l.max_queued_messages, 1, 10'000'000);
  r.integer("max_inflight", l.max_inflight, 1, 65535);
  r.integer("max_connections", l.max_connections, 1, 10'000'000);
  r.integer("connect_timeout_seconds", l.connect_timeout_seconds, 1, 3600);
  r.finish();
}

void read_auth(const json& v, auth_config& a) {
  object_reader r(v, "auth");
  if (const json* x = r.find("x5c_jwt")) {
    object_reader xr(*x, "auth.x5c_jwt");
    xr.string("username", a.x5c_jwt.username);
    xr.string("audience", a.x5c_jwt.audience);
    xr.string_list("schemas", a.x5c_jwt.schemas);
    xr.integer("max_lifetime_seconds", a.x5c_jwt.max_lifetime_seconds, 1, 30LL * 86400);
    xr.integer("clock_skew_seconds", a.x5c_jwt.clock_skew_seconds, 0, 3600);
    xr.boolean("disconnect_on_expiry", a.x5c_jwt.disconnect_on_expiry);
    xr.finish();
  }
  r.string("anonymous_tenant", a.anonymous_tenant);
  if (const json* c = r.find("client_id")) {
    object_reader cr(*c, "auth.client_id");
    cr.integer("min_length", a.client_id_min_length, 0, 65535);
    cr.integer("max_length", a.client_id_max_length, 1, 65535);
    cr.finish();
  }
  if (const json* p = r.find("provisioning")) {
    object_reader pr(*p, "auth.provisioning");
    pr.integer("agents_per_tenant", a.agents_per_tenant, 0, 100'000'000);
    pr.finish();
  }
  r.finish();
}

void read_root(const json& root, config& c) {
  object_reader r(root, "");
  r.string("data_dir", c.data_dir);
  if (const json* l = r.find("listeners")) read_listeners(*l, "listeners", c.listeners);
  if (const json* a = r.find("admin")) {
    object_reader ar(*a, "admin");
    ar.optional_string("token_file", c.admin_token_file);
    ar.finish();
  }
  if (const json* l = r.find("limits")) read_limits(*l, c.limits);
  if (const json* a = r.find("auth")) read_auth(*a, c.auth);
  if (const json* m = r.find("mqtt")) {
    object_reader mr(*m, "mqtt");
    std::string mode = c.ignore_unsupported_features ? "ignore" : "reject";
    mr.string("unsupported_features", mode);
    if (mode != "reject" && mode != "ignore") {
      throw config_error("mqtt.unsupported_features", "must be \"reject\" or \"ignore\"");
    }
    c.ignore_unsupported_features = mode == "ignore";
    mr.finish();
  }
  r.integer("workers", c.workers, 0, 256);
  if (const json* l = r.find("log")) {
    object_reader lr(*l, "log");
    lr.string("level", c.log_level);
    lr.string("format", c.log_format);
    lr.finish();
  }
  r.finish();
}

bool is_tenant_id(const std::string& s) {
  if (s.empty() || s.size() > 36) return false;
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

void parse_bind(listener_config& l, const std::string& key) {
  const std::string& b = l.bind;
  std::string host, port;
  if (!b.empty() && b.front() == '[') {
    auto close = b.find(']');
    if (close == std::string::npos || close + 1 >= b.size() || b[close + 1] != ':') {
      throw config_error(key, "must be \"host:port\" (IPv6 as \"[addr]:port\")");
    }
    host = b.substr(1, close - 1);
    port = b.substr(close + 2);
  } else {
    auto colon = b.rfind(':');
    if (colon == std::string::npos || b.find(':') != colon) {
      throw config_error(key, "must be \"host:port\" (IPv6 as \"[addr]:port\")");
    }
    host = b.substr(0, colon);
    port = b.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
    throw config_error(key, "must be \"host:port\" with a port from 0 to 65535");
  }
  long p = std::stol(port);
  if (p > 65535) throw config_error(key, "port must be between 0 and 65535");
  // The host must be an address this machine can bind: checked here, so that check-config
  // refuses what serve would (a numeric address never leaves the process; a name is looked
  // up as serve will look it up).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) ::freeaddrinfo(found);
  if (rc != 0) throw config_error(key, "cannot resolve host \"" + host + "\": " + ::gai_strerror(rc));
  l.host = host;
  l.port = static_cast<std::uint16_t>(p);
}

/// Relative file paths are taken from the working directory; when the file is not
/// there but beside the config file, that one is used (a config and its
/// certificates usually live in one folder).
std::string resolve_file(const std::string& file, const std::string& config_source, const std::string& key) {
  namespace fs = std::filesystem;
  if (file.empty()) throw config_error(key, "must name a file");
  fs::path p(file);
  std::error_code ec;
  if (p.is_relative() && !fs::exists(p, ec) && !config_source.empty()) {
    fs::path beside = fs::path(config_source).parent_path() / p;
    if (fs::exists(beside, ec)) p = beside;
  }
  if (!fs::is_regular_file(p, ec)) throw config_error(key, "file not found: " + file);
  std::ifstream in(p);
  if (!in) throw config_error(key, "file not readable: " + file);
  return p.string();
}

}  // namespace

config default_config() {
  config c;
  c.listeners = {
      {"mqtt", "127.0.0.1:1883", "mqtt", {"x5c-jwt"}, std::nullopt, "", 0},
      {"admin", "127.0.0.1:8080", "http", {}, std::nullopt, "", 0},
  };
  return c;
}

/// Whether serve could not bind both (check-config refuses what serve would): the same
/// non-zero port on the same host, or on a wildcard address that covers the other one ("::"
/// is dual-stack, so it covers every address; "0.0.0.0" every IPv4 one). Host names are
/// compared as written.
bool binds_overlap(const listener_config& a, const listener_config& b) {
  if (a.port == 0 || a.port != b.port) return false;
  if (a.host == b.host || a.host == "::" || b.host == "::") return true;
  auto v6 = [](const std::string& h) { return h.find(':') != std::string::npos; };
  if (a.host == "0.0.0.0") return !v6(b.host);
  if (b.host == "0.0.0.0") return !v6(a.host);
  return false;
}

void validate(config& c) {
  if (c.data_dir.empty()) throw config_error("data_dir", "must not be empty");
  // A broker with no socket at all would report ready and serve nobody.
  if (c.listeners.empty()) throw config_error("listeners", "must hold at least one listener");
  std::set<std::string> names;
  int http = 0;
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    auto& l = c.listeners[i];
    std::string p = "listeners[" + std::to_string(i) + "]";
    if (l.name.empty()) throw config_error(p + ".name", "must not be empty");
    if (!names.insert(l.name).second) throw config_error(p + ".name", "duplicate listener name \"" + l.name + "\"");
    parse_bind(l, p + ".bind");
    for (std::size_t j = 0; j < i; ++j) {
      if (binds_overlap(c.listeners[j], l)) {
        throw config_error(p + ".bind", "port " + std::to_string(l.port) + " is already bound by listeners[" +
                                            std::to_string(j) + "] (\"" + c.listeners[j].name + "\": " +
                                            c.listeners[j].bind + ")");
      }
    }
    if (l.protocol == "http") {
      ++http;
      if (!l.auth.empty()) throw config_error(p + ".auth", "only mqtt listeners take auth methods");
      if (l.tls) throw config_error(p + ".tls", "TLS on the admin listener is not supported; put it behind a TLS proxy");
    } else if (l.protocol == "mqtt") {
      if (l.auth.empty()) throw config_error(p + ".auth", "must name at least one method (x5c-jwt, mtls, anonymous)");
      std::set<std::string> seen;
      for (std::size_t j = 0; j < l.auth.size(); ++j) {
        const auto& m = l.auth[j];
        std::string k = p + ".auth[" + std::to_string(j) + "]";
        if (m != "x5c-jwt" && m != "mtls" && m != "anonymous") {
          throw config_error(k, "unknown method \"" + m + "\" (x5c-jwt, mtls, anonymous)");
        }
        if (!seen.insert(m).second) throw config_error(k, "method \"" + m + "\" listed twice");
        if (m == "mtls" && (!l.tls || l.tls->client_certs == client_cert_mode::none)) {
          throw config_error(k, "mtls needs a tls block with client_certs \"optional\" or \"required\"");
        }
      }
    } else {
      throw config_error(p + ".protocol", "must be \"mqtt\" or \"http\"");
    }
    if (l.tls) {
      l.tls->cert = resolve_file(l.tls->cert, c.source, p + ".tls.cert");
      l.tls->key = resolve_file(l.tls->key, c.source, p + ".tls.key");
    }
  }
  if (http > 1) throw config_error("listeners", "at most one http (admin) listener");
  if (c.auth.client_id_min_length > c.auth.client_id_max_length) {
    throw config_error("auth.client_id.min_length", "must not exceed max_length");
  }
  if (c.auth.client_id_max_length > 65535) throw config_error("auth.client_id.max_length", "must be at most 65535");
  if (!is_tenant_id(c.auth.anonymous_tenant)) {
    throw config_error("auth.anonymous_tenant", "must be 1-36 characters of [A-Za-z0-9_-]");
  }
  if (c.auth.x5c_jwt.username.empty()) throw config_error("auth.x5c_jwt.username", "must not be empty");
  if (c.auth.x5c_jwt.audience.empty()) throw config_error("auth.x5c_jwt.audience", "must not be empty");
  // "warning" too: it is what the log lines print.
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
  if (!levels.count(c.log_level)) {
    throw config_error("log.level", "must be one of trace, debug, info, warn (or warning), error, critical, off");
  }
  if (c.log_format != "text" && c.log_format != "json") throw config_error("log.format", "must be \"text\" or \"json\"");
  if (c.admin_token_file && c.admin_token_file->empty()) throw config_error("admin.token_file", "must not be empty");
}

std::vector<std::string> config_warnings(const config& c) {
  std::vector<std::string> out;
  if (c.auth.agents_per_tenant == 0) {
    out.push_back("auth.provisioning.agents_per_tenant is 0: no new device can connect (every first connect is "
                  "refused as quota.agents)");
  }
  return out;
}

config parse_config(const std::string& json_text, const std::string& source_name) {
  rapidjson::Document doc;
  // One document and nothing after it but whitespace and complete comments: a second
  // object or stray text after the first is a syntax error, never silently ignored.
  constexpr unsigned flags =
      rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag | rapidjson::kParseIterativeFlag;
  if (auto nul = json_text.find('\0'); nul != std::string::npos) {
    std::size_t line = 1 + static_cast<std::size_t>(std::count(json_text.begin(),
        json_text.begin() + static_cast<std::ptrdiff_t>(nul), '\n'));
    throw config_error("(syntax)", "NUL byte at line " + std::to_string(line));
  }
  doc.Parse<flags>(json_text.c_str(), json_text.size());
  if (doc.HasParseError()) {
    // Report a line number: far easier to act on than a byte offset.
    std::size_t offset = doc.GetErrorOffset();
    std::size_t line = 1 + static_cast<std::size_t>(std::count(json_text.begin(),
        json_text.begin() + static_cast<std::ptrdiff_t>(std::min(offset, json_text.size())), '\n'));
    throw config_error("(syntax)", std::string(rapidjson::GetParseError_En(doc.GetParseError())) +
                                       " at line " + std::to_string(line));
  }
  config c = default_config();
  c.source = source_name;
  read_root(doc, c);
  validate(c);
  return c;
}

config load_config(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw config_error("--config", "is a directory, not a file: " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("--config", "cannot read file: " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

std::string to_json(const config& c) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  auto str = [&](const char* k, const std::string& v) { w.Key(k); w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size())); };
  auto i64 = [&](const char* k, std::int64_t v) { w.Key(k); w.Int64(v); };
  auto dbl = [&](const char* k, double v) { w.Key(k); if (v == static_cast<double>(static_cast<std::int64_t>(v))) w.Int64(static_cast<std::int64_t>(v)); else w.Double(v); };
  w.StartObject();
  str("data_dir", c.data_dir);
  w.Key("listeners");
  w.StartArray();
  for (const auto& l : c.listeners) {
    w.StartObject();
    str("name", l.name);
    str("bind", l.bind);
    str("protocol", l.protocol);
    if (l.protocol == "mqtt") {
      w.Key("auth");
      w.StartArray();
      for (const auto& m : l.auth) w.String(m.c_str());
      w.EndArray();
    }
    if (l.tls) {
      w.Key("tls");
      w.StartObject();
      str("cert", l.tls->cert);
      str("key", l.tls->key);
      const char* mode = l.tls->client_certs == client_cert_mode::none ? "none"
                         : l.tls->client_certs == client_cert_mode::optional ? "optional" : "required";
      str("client_certs", mode);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("admin");
  w.StartObject();
  w.Key("token_file");
  if (c.admin_token_file) w.String(c.admin_token_file->c_str()); else w.Null();
  w.EndObject();
  w.Key("limits");
  w.StartObject();
  i64("max_packet_bytes", c.limits.max_packet_bytes);
  w.Key("rate");
  w.StartObject();
  dbl("messages", c.limits.rate.messages);
  dbl("per_seconds", c.limits.rate.per_seconds);
  dbl("burst", c.limits.rate.burst);
  str("action", c.limits.rate.disconnect ? "disconnect" : "throttle");
  w.Key("enabled"); w.Bool(c.limits.rate.enabled);
  w.EndObject();
  i64("session_expiry_seconds", c.limits.session_expiry_seconds);
  i64("message_expiry_seconds", c.limits.message_expiry_seconds);
  i64("max_queued_messages", c.limits.max_queued_messages);
  i64("max_inflight", c.limits.max_inflight);
  i64("max_connections", c.limits.max_connections);
  i64("connect_timeout_seconds", c.limits.connect_timeout_seconds);
  w.EndObject();
  w.Key("auth");
  w.StartObject();
  w.Key("x5c_jwt");
  w.StartObject();
  str("username", c.auth.x5c_jwt.username);
  str("audience", c.auth.x5c_jwt.audience);
  w.Key("schemas");
  w.StartArray();
  for (const auto& s : c.auth.x5c_jwt.schemas) w.String(s.c_str());
  w.EndArray();
  i64("max_lifetime_seconds", c.auth.x5c_jwt.max_lifetime_seconds);
  i64("clock_skew_seconds", c.auth.x5c_jwt.clock_skew_seconds);
  w.Key("disconnect_on_expiry"); w.Bool(c.auth.x5c_jwt.disconnect_on_expiry);
  w.EndObject();
  str("anonymous_tenant", c.auth.anonymous_tenant);
  w.Key("client_id");
  w.StartObject();
  i64("min_length", c.auth.client_id_min_length);
  i64("max_length", c.auth.client_id_max_length);
  w.EndObject();
  w.Key("provisioning");
  w.StartObject();
  i64("agents_per_tenant", c.auth.agents_per_tenant);
  w.EndObject();
  w.EndObject();
  w.Key("mqtt");
  w.StartObject();
  str("unsupported_features", c.ignore_unsupported_features ? "ignore" : "reject");
  w.EndObject();
  i64("workers", c.workers);
  w.Key("log");
  w.StartObject();
  str("level", c.log_level);
  str("format", c.log_format);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace portcullis::broker
