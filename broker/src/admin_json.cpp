// Response builders and time formatting for the admin API (see admin_json.hpp).
#include "admin_json.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string_view>
#include <vector>

#include <boost/beast/http/field.hpp>

namespace portcullis::broker {

http_response json_response(http::status status, std::string body) {
  http_response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

http_response error_response(http::status status, std::string_view code, std::string_view message) {
  json_writer w;
  w.begin_object().field("error", code).field("message", message).end_object();
  return json_response(status, w.str());
}

http_response no_content() {
  http_response res{http::status::no_content, 11};
  res.set(http::field::cache_control, "no-store");
  return res;
}

std::string echo_id(std::string_view id, std::size_t max) {
  if (id.size() <= max) return std::string(id);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(id[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 sequence
  return std::string(id.substr(0, n)) + "...";
}

namespace {

// Whether a member name occurs twice in one object, at any depth (RapidJSON keeps both and
// FindMember picks the first: a body must not mean two things). Iterative, and O(n log n) per
// object, so neither a deep nor a wide 1 MiB body is a problem.
bool has_duplicate_member(const rapidjson::Value& root) {
  std::vector<const rapidjson::Value*> pending{&root};
  std::vector<std::string_view> names;
  while (!pending.empty()) {
    const rapidjson::Value* v = pending.back();
    pending.pop_back();
    if (v->IsObject()) {
      names.clear();
      for (const auto& m : v->GetObject()) {
        names.emplace_back(m.name.GetString(), m.name.GetStringLength());
        pending.push_back(&m.value);
      }
      std::sort(names.begin(), names.end());
      if (std::adjacent_find(names.begin(), names.end()) != names.end()) return true;
    } else if (v->IsArray()) {
      for (const auto& e : v->GetArray()) pending.push_back(&e);
    }
  }
  return false;
}

}  // namespace

bool parse_json_object(const http_request& req, rapidjson::Document& doc, http_response& error) {
  const std::string& body = req.body();
  auto invalid = [&](std::string why) {
    error = error_response(http::status::bad_request, "json.invalid", std::move(why));
    return false;
  };
  // RapidJSON reads a NUL byte as the end of the text: what follows one would go unread.
  if (body.find('\0') != std::string::npos) return invalid("the request body contains a NUL byte");
  // Iterative: the recursive parser's stack grows with the nesting, and a body of a million
  // '[' (under the 1 MiB limit) would overflow it. The document's own destruction does not
  // recurse (pool allocator).
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return invalid("the request body must be a JSON object");
  if (has_duplicate_member(doc)) return invalid("the request body names a member twice in one object");
  return true;
}

bool accept_empty_or_json_object(const http_request& req, http_response& error) {
  if (req.body().find_first_not_of(" \t\r\n") == std::string::npos) return true;
  rapidjson::Document doc;
  return parse_json_object(req, doc, error);
}

const rapidjson::Value* string_member(const rapidjson::Document& doc, const char* key) {
  auto it = doc.FindMember(key);
  if (it == doc.MemberEnd() || !it->value.IsString()) return nullptr;
  return &it->value;
}

http_response invalid_field(std::string_view field, std::string_view why) {
  return error_response(http::status::bad_request, "field.invalid", "\"" + std::string(field) + "\": " + std::string(why));
}

std::int64_t epoch_seconds_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t epoch_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso8601_ms(std::int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  int ms = static_cast<int>(epoch_ms % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, ms);
  return out;
}

}  // namespace portcullis::broker
