// portcullis: the command line (SPEC §2). Thin: each subcommand parses its flags
// and calls into the broker library. Configuration errors print one line naming
// the key and exit 2.

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "portcullis/broker/config.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/broker/server.hpp"

namespace pb = portcullis::broker;

namespace {

constexpr int exit_config_error = 2;

pb::config load(const std::string& path) {
  return path.empty() ? [] {
    auto c = pb::default_config();
    pb::validate(c);
    return c;
  }() : pb::load_config(path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Portcullis: an authenticating MQTT 3.1.1 broker for industrial device fleets"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "portcullis 0.1.0");

  std::string config_path;
  std::string data_dir;
  std::string log_level;
  std::string log_format;
  auto* serve = app.add_subcommand("serve", "Run the broker in the foreground");
  serve->add_option("--config", config_path, "Configuration file (JSON with comments)");
  serve->add_option("--data-dir", data_dir, "Data directory (overrides data_dir)");
  serve->add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off");
  serve->add_option("--log-format", log_format, "text|json");

  auto* check = app.add_subcommand("check-config", "Validate a configuration and print the effective one");
  check->add_option("--config", config_path, "Configuration file");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_config_error;
  }

  try {
    if (*check) {
      pb::config c = load(config_path);
      std::cout << pb::to_json(c);
      return 0;
    }
    if (*serve) {
      pb::config c = load(config_path);
      if (!data_dir.empty()) c.data_dir = data_dir;
      if (!log_level.empty()) c.log_level = log_level;
      if (!log_format.empty()) c.log_format = log_format;
      pb::validate(c);
      pb::setup_logging(c.log_level, c.log_format);
      pb::server s(std::move(c));
      return s.run();
    }
  } catch (const pb::config_error& e) {
    std::cerr << "portcullis: config error: " << e.what() << "\n";
    return exit_config_error;
  } catch (const std::exception& e) {
    std::cerr << "portcullis: fatal: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
