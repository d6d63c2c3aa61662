#pragma once
// Per-client credentials the bench's clients present: CONNECT parameters and, for mTLS, a
// client certificate with its key (loaded from a directory of <cn>.crt / <cn>.key pairs).

#include <memory>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mqtt_client.hpp"

namespace portcullis::bench {

struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

struct credential {
  connect_params params;
  std::unique_ptr<X509, x509_free> cert;
  std::unique_ptr<EVP_PKEY, pkey_free> key;
};

/// The first `limit` certificates of `dir` in name order, each with its key; client id = the
/// file name's stem (the CN). False when a file cannot be read or parsed.
bool load_cert_dir(const std::string& dir, std::vector<credential>& out, unsigned limit);

}  // namespace portcullis::bench
