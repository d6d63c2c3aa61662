// Topic-name and topic-filter validation and matching (MQTT 3.1.1 §4.7).
//
// Rules enforced:
// - DEVIATION(SPEC §6): every level consists of [A-Za-z0-9_~-] only; a level may be
//   empty ("a//b", "/a", "a/" are valid). This excludes '$' anywhere, so the
//   `$`-topics reserved for the broker can be neither published nor subscribed.
// - length 1..65535 bytes [MQTT-4.7.3-1], [MQTT-4.7.3-3];
// - '+' only as a whole level, in filters only [MQTT-4.7.1-3];
// - '#' only as the whole last level, in filters only [MQTT-4.7.1-2].
// Matching follows §4.7.1: '+' matches exactly one level (which may be empty), '#'
// matches the parent level and any number of child levels ("sport/#" matches
// "sport"), and §4.7.2: a filter starting with a wildcard does not match a topic
// starting with '$' [MQTT-4.7.2-1] (kept although SPEC §6 refuses such topics).

#include "portcullis/protocol/topic.hpp"

#include <cstddef>

namespace portcullis::protocol {

namespace {

constexpr std::size_t max_topic_size = 65535;

constexpr bool is_level_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '~' || c == '-';
}

bool is_plain_level(std::string_view level) noexcept {
  for (const char c : level) {
    if (!is_level_char(c)) {
      return false;  // DEVIATION(SPEC §6): character set
    }
  }
  return true;
}

/// The level of `s` starting at `begin`, and where the next one starts (npos at the end).
std::string_view level_at(std::string_view s, std::size_t begin, std::size_t& next) noexcept {
  const auto slash = s.find('/', begin);
  if (slash == std::string_view::npos) {
    next = std::string_view::npos;
    return s.substr(begin);
  }
  next = slash + 1;
  return s.substr(begin, slash - begin);
}

}  // namespace

bool is_valid_topic_name(std::string_view topic) noexcept {
  if (topic.empty() || topic.size() > max_topic_size) {
    return false;
  }
  for (const char c : topic) {
    if (c != '/' && !is_level_char(c)) {
      return false;  // DEVIATION(SPEC §6): also refuses '+', '#' [MQTT-3.3.2-2] and '$'
    }
  }
  return true;
}

bool is_valid_topic_filter(std::string_view filter) noexcept {
  if (filter.empty() || filter.size() > max_topic_size) {
    return false;
  }
  std::size_t begin = 0;
  while (begin != std::string_view::npos) {
    std::size_t next = 0;
    const auto level = level_at(filter, begin, next);
    if (level == "#") {
      if (next != std::string_view::npos) {
        return false;  // [MQTT-4.7.1-2] '#' must be the last level
      }
    } else if (level != "+" && !is_plain_level(level)) {
      return false;  // [MQTT-4.7.1-2], [MQTT-4.7.1-3], SPEC §6
    }
    begin = next;
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;  // [MQTT-4.7.2-1]
  }
  std::size_t f = 0;
  std::size_t t = 0;
  bool topic_done = false;  // every topic level has been matched
  for (;;) {
    std::size_t f_next = 0;
    const auto level = level_at(filter, f, f_next);
    if (level == "#") {
      return true;  // matches the parent and any number of children
    }
    if (topic_done) {
      return false;  // the filter has more levels than the topic
    }
    std::size_t t_next = 0;
    const auto topic_level = level_at(topic, t, t_next);
    if (level != "+" && level != topic_level) {
      return false;
    }
    if (f_next == std::string_view::npos) {
      return t_next == std::string_view::npos;  // both end here, or the topic has more levels
    }
    f = f_next;
    if (t_next == std::string_view::npos) {
      topic_done = true;
    } else {
      t = t_next;
    }
  }
}

}  // namespace portcullis::protocol
