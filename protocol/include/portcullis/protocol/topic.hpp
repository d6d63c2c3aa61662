#pragma once
// Topic names and filters: MQTT 3.1.1 §4.7 plus the SPEC §6 character set.
//
// DEVIATION(SPEC §6): a topic level may contain only [A-Za-z0-9_~-] (a level may be
// empty); `+` and `#` appear only in filters, `+` alone in its level, `#` alone in
// the last level; topics starting with `$` are reserved for the broker, so clients
// can neither publish to nor subscribe to them. Maximum length 65535 bytes.
//
// Thread safety: pure functions.

#include <string_view>

namespace portcullis::protocol {

/// A topic name a client may PUBLISH to.
bool is_valid_topic_name(std::string_view topic) noexcept;

/// A topic filter a client may SUBSCRIBE to / UNSUBSCRIBE from.
bool is_valid_topic_filter(std::string_view filter) noexcept;

/// True when `topic` (a valid name) matches `filter` (a valid filter), §4.7.1.
bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

}  // namespace portcullis::protocol
