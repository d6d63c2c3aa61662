#pragma once
// Strict JSON for JWS headers and claims (RFC 7515 §5.2 / RFC 7519 §7.2): one JSON object,
// valid UTF-8, no comments, no NaN/Infinity, no trailing content, no duplicate member names at
// any level (RapidJSON would keep both and lookups would pick one: a classic confusion bug),
// nesting at most max_json_depth deep (bounds recursion in parsing and destruction).

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>
#include <rapidjson/document.h>

namespace portcullis::auth::detail {

inline constexpr std::size_t max_json_depth = 16;

/// The parsed object, or a one-line reason ("duplicate member \"alg\"", "offset 12: ...").
boost::system::result<rapidjson::Document, std::string> parse_strict_object(std::string_view text);

/// Pretty-printed re-serialisation (for explain/decode output).
std::string pretty(const rapidjson::Value& value);

/// Number of Unicode code points of a (validated) UTF-8 string.
std::size_t utf8_length(std::string_view s) noexcept;

}  // namespace portcullis::auth::detail
