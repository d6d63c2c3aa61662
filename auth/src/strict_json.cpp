// Strict JSON parsing on top of RapidJSON (rules in strict_json.hpp).

#include "strict_json.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace portcullis::auth::detail {
namespace {

// Conservative nesting depth outside of strings, computed before RapidJSON parses (its parser
// and Value destructor recurse). Up to the first syntax error this agrees with RapidJSON's view
// of what is inside a string; after it RapidJSON refuses the document anyway.
std::size_t nesting_depth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// First duplicate member name found anywhere in `v`, or nullptr.
const rapidjson::Value* find_duplicate(const rapidjson::Value& v) {
  if (v.IsObject()) {
    std::vector<std::string_view> names;
    names.reserve(v.MemberCount());
    for (const auto& m : v.GetObject()) {
      names.emplace_back(m.name.GetString(), m.name.GetStringLength());
    }
    std::sort(names.begin(), names.end());
    if (auto it = std::adjacent_find(names.begin(), names.end()); it != names.end()) {
      for (const auto& m : v.GetObject()) {
        if (std::string_view(m.name.GetString(), m.name.GetStringLength()) == *it) {
          return &m.name;
        }
      }
    }
    for (const auto& m : v.GetObject()) {
      if (const auto* d = find_duplicate(m.value)) {
        return d;
      }
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (const auto* d = find_duplicate(e)) {
        return d;
      }
    }
  }
  return nullptr;
}

// True when every byte is below 0x80: such text is valid UTF-8 as it stands.
bool is_ascii(std::string_view text) {
  std::uint64_t high = 0;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, sizeof word);
    high |= word;
  }
  for (; i < text.size(); ++i) {
    high |= static_cast<unsigned char>(text[i]);
  }
  return (high & 0x8080808080808080ULL) == 0;
}

}  // namespace

boost::system::result<rapidjson::Document, std::string> parse_strict_object(std::string_view text) {
  // JSON text has no raw NUL (in a string it must be escaped), and RapidJSON would take one
  // for the end of the input: whatever followed it would be ignored instead of refused.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return "offset " + std::to_string(nul) + ": a NUL byte is not JSON";
  }
  if (nesting_depth(text) > max_json_depth) {
    return std::string("nested deeper than ") + std::to_string(max_json_depth) + " levels";
  }
  rapidjson::Document doc;
  // Encoding validation costs a third of parsing a JWS header (kilobytes of x5c); text that is
  // all ASCII has nothing to validate. (\u escapes are checked either way.)
  if (is_ascii(text)) {
    doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  } else {
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  }
  if (doc.HasParseError()) {
    return "offset " + std::to_string(doc.GetErrorOffset()) + ": " +
           rapidjson::GetParseError_En(doc.GetParseError());
  }
  if (!doc.IsObject()) {
    return std::string("not a JSON object");
  }
  if (const auto* dup = find_duplicate(doc)) {
    return "duplicate member \"" + std::string(dup->GetString(), dup->GetStringLength()) + "\"";
  }
  return doc;
}

std::string pretty(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

}  // namespace portcullis::auth::detail
