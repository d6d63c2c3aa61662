// portcullis: the command line (SPEC §2). Thin: each subcommand parses its flags
// and calls into the broker library. Configuration errors print one line naming
// the key and exit 2.

#include <sys/stat.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "portcullis/broker/config.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/broker/server.hpp"
#include "admin_token.hpp"
#include "cli_tools.hpp"
#include "tls_context.hpp"

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
  bool json_logging = false;  // JSON log lines have started (serve)
  CLI::App app{"Portcullis: an authenticating MQTT 3.1.1 broker for industrial device fleets"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "portcullis 0.1.0");

  std::string config_path;
  std::string data_dir;
  std::string log_level;
  std::string log_format;
  auto* serve = app.add_subcommand("serve", "Run the broker in the foreground");
  serve->add_option("--config", config_path,
                    "Configuration file (JSON with comments); without it, the built-in defaults (SPEC §3)");
  serve->add_option("--data-dir", data_dir, "Data directory (overrides data_dir)");
  serve->add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off");
  serve->add_option("--log-format", log_format, "text|json");

  auto* check = app.add_subcommand("check-config", "Validate a configuration and print the effective one");
  check->add_option("--config", config_path, "Configuration file; without it, the built-in defaults");

  namespace cli = pb::cli;
  auto* pki = app.add_subcommand("pki", "Development PKI: CAs, device, server and verification certificates");
  pki->require_subcommand(1);
  cli::pki_args pa;
  auto add_out = [&](CLI::App* c, bool key) {
    c->add_option("--out-cert", pa.out_cert, "Certificate output (PEM)")->required();
    if (key) c->add_option("--out-key", pa.out_key, "Private key output (PEM, mode 0600)")->required();
    c->add_option("--days", pa.days, "Validity in days (default 365)")->check(CLI::Range(1, 36500));
  };
  auto add_issuer = [&](CLI::App* c) {
    c->add_option("--ca-cert", pa.ca_cert, "Issuing CA certificate (PEM)")->required();
    c->add_option("--ca-key", pa.ca_key, "Issuing CA private key (PEM)")->required();
  };
  auto* pki_ca = pki->add_subcommand("ca", "A self-signed tenant CA");
  pki_ca->add_option("--cn", pa.cn, "Subject CN")->required();
  add_out(pki_ca, true);
  auto* pki_int = pki->add_subcommand("intermediate", "An intermediate CA signed by --ca-cert/--ca-key");
  pki_int->add_option("--cn", pa.cn, "Subject CN")->required();
  add_issuer(pki_int);
  add_out(pki_int, true);
  auto* pki_dev = pki->add_subcommand(
      "device", "A device certificate (CN = the MQTT client id), written followed by its issuer's certificate");
  pki_dev->add_option("--cn,--client-id", pa.cn, "Subject CN (the device's client id)")->required();
  pki_dev->add_flag("--client-auth", pa.client_auth, "Add extendedKeyUsage clientAuth (for mTLS)");
  add_issuer(pki_dev);
  add_out(pki_dev, true);
  auto* pki_ver = pki->add_subcommand("verification", "A verification certificate for a registration code (SPEC 4.4)");
  pki_ver->add_option("--code", pa.cn, "The registration code (becomes the CN)")->required();
  add_issuer(pki_ver);
  add_out(pki_ver, false);
  auto* pki_srv = pki->add_subcommand("server", "A TLS server certificate");
  pki_srv->add_option("--cn", pa.cn, "Subject CN")->required();
  pki_srv->add_option("--dns", pa.dns, "DNS subjectAltName (default localhost)");
  pki_srv->add_option("--ip", pa.ips, "IP subjectAltName (default 127.0.0.1)");
  add_issuer(pki_srv);
  add_out(pki_srv, true);

  auto* token = app.add_subcommand("token", "Device tokens: mint an x5c JWT, explain a refusal");
  token->require_subcommand(1);
  cli::mint_args ma;
  auto* mint = token->add_subcommand("mint", "Mint an RS256 x5c JWT for a device");
  mint->add_option("--cert", ma.cert, "Device certificate (PEM), optionally followed by its issuers")->required();
  mint->add_option("--key", ma.key, "Device private key (PEM)")->required();
  mint->add_option("--client-id", ma.client_id, "MQTT client id (iss and sub)")->required();
  mint->add_option("--chain", ma.chain,
                   "Issuer certificates, in order, up to the tenant CA, which x5c must contain (repeatable)");
  // Positive, but not capped at the broker's max_lifetime_seconds: a token that breaks it is a
  // legitimate thing to mint when testing the broker.
  mint->add_option("--lifetime", ma.lifetime, "Seconds until exp (default 3600)")
      ->check(CLI::Range(1LL, 10LL * 365 * 86400).description("1 to 315360000 (10 years)"));
  mint->add_option("--tenant", ma.tenant, "The ten claim (default empty)");
  mint->add_option("--audience", ma.audience, "The aud claim (default MQTTBroker)");
  cli::explain_args ea;
  auto* explain = token->add_subcommand("explain", "Check a token against every rule and the registered CAs");
  explain->add_option("--token", ea.token, "The JWT, or - to read it from stdin")->required();
  explain->add_option("--config", ea.config, "Configuration file (x5c options, data_dir)");
  explain->add_option("--data-dir", ea.data_dir, "Data directory holding portcullis.db");
  explain->add_option("--client-id", ea.client_id, "Client id the device connects with (default: sub)");
  explain->add_option("--username", ea.username, "CONNECT username (default: the configured one)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_config_error;
  }

  try {
    if (*pki) {
      for (const char* k : {"ca", "intermediate", "device", "verification", "server"}) {
        if (pki->got_subcommand(k)) pa.kind = k;
      }
      return cli::run_pki(pa);
    }
    if (*mint) return cli::run_token_mint(ma);
    if (*explain) return cli::run_token_explain(ea);
    if (*check) {
      pb::config c = load(config_path);
      // TLS files are loaded as serve loads them: a key that is encrypted, unreadable or not the
      // certificate's is a config error now, not at the next restart.
      std::vector<std::string> warnings = pb::config_warnings(c);
      for (std::size_t i = 0; i < c.listeners.size(); ++i) {
        if (c.listeners[i].tls) pb::make_tls_contexts(c.listeners[i], i, 1, &warnings);
      }
      for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
      pb::check_bootstrap_token_source(c);
      std::cout << pb::to_json(c);
      return 0;
    }
    if (*serve) {
      pb::config c = load(config_path);
      if (!data_dir.empty()) c.data_dir = data_dir;
      if (!log_level.empty()) c.log_level = log_level;
      if (!log_format.empty()) c.log_format = log_format;
      try {
        pb::validate(c);
      } catch (const pb::config_error& e) {
        // A bad flag is named as the flag the operator typed, not as the config key it overrides.
        const std::string message = std::string(e.what()).substr(e.key().size() + 2);  // after "key: "
        if (!log_level.empty() && e.key() == "log.level") throw pb::config_error("--log-level", message);
        if (!log_format.empty() && e.key() == "log.format") throw pb::config_error("--log-format", message);
        throw;
      }
      pb::check_bootstrap_token_source(c);  // before anything is written into the data dir
      // What serve writes (the store: queued payloads, bindings, CAs; the lock) is
      // its user's alone, as under the shipped unit's UMask=0077, however it is started
      // (ports.json is written 0644 on purpose: ports are no secret).
      ::umask(0077);
      pb::setup_logging(c.log_level, c.log_format);
      json_logging = c.log_format == "json";
      pb::server s(std::move(c));
      return s.run();
    }
  } catch (const pb::config_error& e) {
    // Once JSON logs have gone out (a listener that cannot bind, a locked data dir), the
    // failure is a JSON line of that stream too; the plain line on stderr stays for scripts.
    if (json_logging) {
      pb::logger("broker")->critical("start-up failed key={} detail={}", pb::log_value(e.key()),
                                     pb::log_quoted(std::string(e.what()).substr(e.key().size() + 2)));
      spdlog::shutdown();
    }
    std::cerr << "portcullis: config error: " << e.what() << "\n";
    return exit_config_error;
  } catch (const std::exception& e) {
    if (json_logging) {
      pb::logger("broker")->critical("start-up failed detail={}", pb::log_quoted(e.what()));
      spdlog::shutdown();
    }
    std::cerr << "portcullis: fatal: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
