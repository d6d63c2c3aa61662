// `portcullis pki` (a development PKI for tenants trying the broker: CA,
// intermediate, device and server certificates, and the verification certificate
// that proves possession of a CA key for a registration code) and `portcullis
// token mint|explain`. explain runs the exact validator the broker runs, against
// the CAs registered in the store, and prints every rule with pass/fail so an
// operator can tell a device owner precisely why it was refused.

#include "cli_tools.hpp"
#include "trust_manager.hpp"
#include "wall_clock.hpp"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <rapidjson/document.h>

#include "portcullis/auth/explain.hpp"
#include "portcullis/auth/pki.hpp"
#include "portcullis/auth/token.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "portcullis/broker/config.hpp"
#include "portcullis/store/database.hpp"

namespace portcullis::broker::cli {
namespace {


bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

bool write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return false;
  ::chmod(path.c_str(), mode);
  return true;
}

int fail(const std::string& message) {
  std::cerr << "portcullis: " << message << "\n";
  return 1;
}

/// Reads a claim from the JWT payload without verifying it (for defaults only).
std::string unverified_claim(const std::string& token, const char* name) {
  auto d = auth::decode_jws(token);
  if (!d) return {};
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(d->claims_json.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  auto it = doc.FindMember(name);
  return it != doc.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

}  // namespace

int run_pki(const pki_args& a) {
  auto now = epoch_seconds();
  auto valid = auth::pki::days_from(now, a.days);
  auth::pki::issued issuer;
  bool needs_issuer = a.kind != "ca";
  if (needs_issuer) {
    if (a.ca_cert.empty() || a.ca_key.empty()) return fail("pki " + a.kind + ": --ca-cert and --ca-key are required");
    if (!read_file(a.ca_cert, issuer.cert_pem)) return fail("cannot read " + a.ca_cert);
    if (!read_file(a.ca_key, issuer.key_pem)) return fail("cannot read " + a.ca_key);
    // Refused here rather than written: a certificate from a non-CA or with the wrong key
    // would be refused by every verifier, the broker's onboarding included.
    if (auto ok = auth::pki::check_issuer(issuer); !ok) {
      return fail("pki " + a.kind + ": --ca-cert/--ca-key: " + ok.error());
    }
  }
  auth::pki::result<auth::pki::issued> r{boost::system::in_place_error, "unknown kind"};
  if (a.kind == "ca" || a.kind == "intermediate") {
    auth::pki::ca_options o;
    o.valid = valid;
    r = auth::pki::make_ca(a.cn, needs_issuer ? &issuer : nullptr, o);
  } else if (a.kind == "device") {
    auth::pki::device_options o;
    o.valid = valid;
    o.client_auth_eku = a.client_auth;
    r = auth::pki::make_device_cert(a.cn, issuer, o);
  } else if (a.kind == "verification") {
    r = auth::pki::make_verification_cert(a.cn, issuer, valid);
  } else if (a.kind == "server") {
    auto dns = a.dns.empty() ? std::vector<std::string>{"localhost"} : a.dns;
    auto ips = a.ips.empty() ? std::vector<std::string>{"127.0.0.1"} : a.ips;
    r = auth::pki::make_server_cert(a.cn, dns, ips, issuer, valid);
  } else {
    return fail("pki: unknown kind " + a.kind);
  }
  if (!r) return fail("pki " + a.kind + ": " + r.error());
  if (a.kind == "device") {
    // The device certificate, then its issuer's certificate(s): the chain an x5c must carry
    // (SPEC §4.1: it contains the tenant CA), and what a TLS client sends. `token mint --cert`
    // takes them all; a PEM reader that wants one certificate takes the first.
    std::string issuer_pem = issuer.cert_pem;
    if (!issuer_pem.empty() && issuer_pem.back() != '\n') issuer_pem += '\n';
    r->cert_pem += issuer_pem;
  }
  if (!write_file(a.out_cert, r->cert_pem, 0644)) return fail("cannot write " + a.out_cert);
  if (a.kind != "verification") {
    if (a.out_key.empty()) return fail("pki " + a.kind + ": --out-key is required");
    if (!write_file(a.out_key, r->key_pem, 0600)) return fail("cannot write " + a.out_key);
  }
  std::cout << "wrote " << a.out_cert << (a.kind != "verification" ? " and " + a.out_key : std::string()) << "\n";
  return 0;
}

int run_token_mint(const mint_args& a) {
  auth::mint_request req;
  if (!read_file(a.cert, req.cert_pem)) return fail("cannot read --cert " + a.cert);
  if (!read_file(a.key, req.key_pem)) return fail("cannot read --key " + a.key);
  for (const auto& c : a.chain) {
    std::string pem;
    if (!read_file(c, pem)) return fail("cannot read --chain " + c);
    req.chain_pems.push_back(std::move(pem));
  }
  req.client_id = a.client_id;
  req.lifetime_seconds = a.lifetime;
  req.tenant = a.tenant;
  req.audience = a.audience;
  req.now = epoch_seconds();
  auto token = auth::mint_x5c_jwt(req);
  if (!token) return fail("token mint: " + token.error());
  std::cout << *token << "\n";
  return 0;
}

int run_token_explain(const explain_args& a) {
  std::string token = a.token;
  if (token == "-") std::getline(std::cin, token);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  config cfg = a.config.empty() ? default_config() : load_config(a.config);
  if (!a.data_dir.empty()) cfg.data_dir = a.data_dir;

  auth::x5c_options o;
  o.username = cfg.auth.x5c_jwt.username;
  o.audience = cfg.auth.x5c_jwt.audience;
  o.schemas = cfg.auth.x5c_jwt.schemas;
  o.max_lifetime_seconds = cfg.auth.x5c_jwt.max_lifetime_seconds;
  o.clock_skew_seconds = cfg.auth.x5c_jwt.clock_skew_seconds;
  o.client_id_min = cfg.auth.client_id_min_length;
  o.client_id_max = cfg.auth.client_id_max_length;

  // The tenant CAs, read-only from the broker's store (works while it runs: WAL).
  std::string db_path = cfg.data_dir + "/portcullis.db";
  std::vector<auth::trust_anchor> anchors;
  store::options so;
  so.read_only = true;
  std::string detail;
  auto db = store::database::open(db_path, so, &detail);
  if (!db) {
    std::cerr << "warning: cannot open the store " << db_path << " (" << detail
              << "); checking without registered CAs\n";
  } else if (auto cas = (*db)->list_all_cas()) {
    for (auto& c : *cas) anchors.push_back({c.id, c.tenant, c.der});
  }
  auto trust = auth::trust_store::create(std::move(anchors));

  std::string client_id = a.client_id.empty() ? unverified_claim(token, "sub") : a.client_id;
  std::string username = a.username.empty() ? o.username : a.username;
  std::cout << "client id: " << client_id << (a.client_id.empty() ? " (from the token's sub claim)" : "") << "\n"
            << "registered tenant CAs: " << trust->size() << " (" << db_path << ")\n";
  if (auto d = auth::decode_jws(token)) {
    std::cout << "header: " << d->header_json << "\nclaims: " << d->claims_json << "\n";
    for (std::size_t i = 0; i < d->certificates.size(); ++i) std::cout << "x5c[" << i << "]: " << d->certificates[i] << "\n";
  }
  const std::int64_t now = epoch_seconds();
  std::optional<auth::identity> id;
  auto rules = auth::explain_x5c_jwt(username, token, client_id, *trust, o, now, &id);
  bool ok = true;
  auto print = [&](const auth::rule_result& r) {
    ok = ok && r.passed;
    std::cout << (r.passed ? "PASS  " : "FAIL  ") << r.rule;
    if (!r.detail.empty()) std::cout << "  " << r.detail;
    std::cout << "\n";
  };
  for (const auto& r : rules) print(r);
  // The store's rules, as the broker applies them after the token: the client id's binding
  // (SPEC §4.1, system-wide) and, for a new client id, the tenant's agent quota.
  bool store_checked = false;
  if (ok && db) {
    auto bindings = (*db)->list_bindings();
    if (id && bindings) {
      store_checked = true;
      trust_manager known;
      known.load_bindings(*bindings);
      switch (known.check(id->tenant, id->client_id, id->subject_dn)) {
        case trust_manager::binding_state::same:
          print({"binding.conflict", true, "client id already bound to this certificate's subject"});
          break;
        case trust_manager::binding_state::conflict:
          print({"binding.conflict", false,
                 "client id \"" + id->client_id + "\" or subject \"" + id->subject_dn +
                     "\" is already bound to another device"});
          break;
        case trust_manager::binding_state::unbound: {
          print({"binding.conflict", true, "client id not bound yet: the first connect binds it"});
          if (auto n = (*db)->count_agents(id->tenant)) {
            bool room = *n < static_cast<std::int64_t>(cfg.auth.agents_per_tenant);
            print({"quota.agents", room,
                   "tenant \"" + id->tenant + "\" has " + std::to_string(*n) + " of " +
                       std::to_string(cfg.auth.agents_per_tenant) + " agents"});
          } else {
            store_checked = false;
          }
          break;
        }
      }
    }
  }
  if (!ok) {
    std::cout << "result: the broker refuses this token (CONNACK 0x04 unless client_id.length: 0x02)\n";
  } else if (store_checked) {
    std::cout << "result: the broker would accept this token\n";
  } else {
    std::cout << "result: the broker would accept this token (binding and quota not checked: no store)\n";
  }
  return ok ? 0 : 1;
}

}  // namespace portcullis::broker::cli
