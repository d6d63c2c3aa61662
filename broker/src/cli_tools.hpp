#pragma once
// The operator tools behind `portcullis pki ...` and `portcullis token ...`
// (SPEC §2). Each returns the process exit code and prints to stdout/stderr.

#include <string>
#include <vector>

namespace portcullis::broker::cli {

struct pki_args {
  std::string kind;         // "ca" | "intermediate" | "device" | "verification" | "server"
  std::string cn;           // subject CN (for verification: the registration code)
  std::string ca_cert, ca_key;  // issuer (all but a root CA)
  std::string out_cert, out_key;
  int days = 365;
  std::vector<std::string> dns, ips;  // server certificates
  bool client_auth = false;           // device: add extendedKeyUsage clientAuth (mTLS)
};
int run_pki(const pki_args& a);

struct mint_args {
  std::string cert, key, client_id, tenant;
  std::vector<std::string> chain;
  long long lifetime = 3600;
  std::string audience = "MQTTBroker";
};
int run_token_mint(const mint_args& a);

struct explain_args {
  std::string token;        // the JWT, "-" = read from stdin
  std::string config;       // config file (x5c options, data_dir of the store)
  std::string data_dir;     // override
  std::string client_id;    // default: the token's sub claim
  std::string username;     // default: the configured bearer name
};
int run_token_explain(const explain_args& a);

}  // namespace portcullis::broker::cli
