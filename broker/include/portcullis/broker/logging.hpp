#pragma once
// Logging setup: one named spdlog logger per module ("broker", "auth", "store",
// "admin"), all writing to stdout (journald friendly), as text or one JSON object
// per line. Tokens, passwords and keys are never logged; JWTs are named by jti and
// certificates by thumbprint.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spdlog { class logger; }

namespace portcullis::broker {

/// Configures the loggers; `level` is an spdlog level name, `format` "text"|"json".
void setup_logging(const std::string& level, const std::string& format);

/// The module logger ("broker", "auth", "store", "admin"); created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

// Event lines read `<event words> key=value key="quoted value" ...`: greppable as text, and
// the JSON format lifts each pair into a field of its own ({"event": ..., "reason": ...}).

/// `"text"` with `"` and `\` escaped, so a key=value line stays parseable whatever the text
/// (control characters are escaped by the formatters).
std::string log_quoted(std::string_view text);

/// A value as it is when it cannot be misread (no space, quote, backslash or `=`, not empty),
/// else quoted: for client ids and other text that comes from the network.
std::string log_value(std::string_view text);

/// A line of the event form split into its event words and its pairs, values unquoted; false
/// (and nothing to lift) when the line is free text or a pair is malformed.
struct log_event {
  std::string_view event;
  std::vector<std::pair<std::string_view, std::string>> fields;
};
bool parse_log_event(std::string_view line, log_event& out);

}  // namespace portcullis::broker
