#pragma once
// Logging setup: one named spdlog logger per module ("broker", "auth", "store",
// "admin"), all writing to stdout (journald friendly), as text or one JSON object
// per line. Tokens, passwords and keys are never logged; JWTs are named by jti and
// certificates by thumbprint.

#include <memory>
#include <string>

namespace spdlog { class logger; }

namespace portcullis::broker {

/// Configures the loggers; `level` is an spdlog level name, `format` "text"|"json".
void setup_logging(const std::string& level, const std::string& format);

/// The module logger ("broker", "auth", "store", "admin"); created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

}  // namespace portcullis::broker
