#pragma once
// JSON helpers of the admin API: a thin RapidJSON writer with camelCase field
// helpers, and the response builders every route uses. Errors are always
// {"error": "<code>", "message": "<text>"} (SPEC §5).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace portcullis::broker {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

/// Writes one JSON document into a string. Not thread-safe (one per response).
class json_writer {
 public:
  json_writer() : writer_(buffer_) {}

  json_writer& begin_object() { writer_.StartObject(); return *this; }
  json_writer& end_object() { writer_.EndObject(); return *this; }
  json_writer& begin_array(std::string_view key) { name(key); writer_.StartArray(); return *this; }
  json_writer& end_array() { writer_.EndArray(); return *this; }
  json_writer& begin_object(std::string_view key) { name(key); writer_.StartObject(); return *this; }

  json_writer& field(std::string_view key, std::string_view value) {
    name(key);
    writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    return *this;
  }
  json_writer& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  json_writer& field(std::string_view key, const std::string& value) { return field(key, std::string_view(value)); }
  json_writer& field(std::string_view key, std::int64_t value) { name(key); writer_.Int64(value); return *this; }
  json_writer& field(std::string_view key, std::uint64_t value) { name(key); writer_.Uint64(value); return *this; }
  json_writer& field(std::string_view key, bool value) { name(key); writer_.Bool(value); return *this; }
  json_writer& null_field(std::string_view key) { name(key); writer_.Null(); return *this; }

  std::string str() const { return std::string(buffer_.GetString(), buffer_.GetSize()); }

 private:
  void name(std::string_view key) { writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())); }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

/// A response with a JSON body and Content-Type application/json.
http_response json_response(http::status status, std::string body);
/// {"error": code, "message": message} with `status`.
http_response error_response(http::status status, std::string_view code, std::string_view message);

/// A client-supplied id or path as echoed in an error message or a log line: at most `max`
/// bytes (cut on a UTF-8 boundary, "..." appended), so a 7 KB id is not sent back or logged whole.
std::string echo_id(std::string_view id, std::size_t max = 64);
/// 204 No Content.
http_response no_content();
/// Parses the request body as a JSON object. On failure fills `error` with the
/// 400 response (code "json.invalid") and returns false.
bool parse_json_object(const http_request& req, rapidjson::Document& doc, http_response& error);
/// For endpoints that take no input: an empty (or blank) body, or any JSON object, whose
/// members are ignored; anything else is a 400 json.invalid in `error`.
bool accept_empty_or_json_object(const http_request& req, http_response& error);
/// The string member `key` of `doc`, or nullptr when absent or not a string.
const rapidjson::Value* string_member(const rapidjson::Document& doc, const char* key);
/// 400 {"error": "field.invalid"} naming `field`.
http_response invalid_field(std::string_view field, std::string_view why);
/// Now, as epoch seconds / milliseconds (system clock).
std::int64_t epoch_seconds_now();
std::int64_t epoch_ms_now();
/// Epoch milliseconds as ISO 8601 UTC with milliseconds ("2024-05-01T12:00:00.123Z").
std::string iso8601_ms(std::int64_t epoch_ms);

}  // namespace portcullis::broker
