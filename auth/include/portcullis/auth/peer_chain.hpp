#pragma once
// A TLS client certificate chain as the TLS stack holds it, for verify_mtls.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct x509_st;  // X509

namespace portcullis::auth {

struct peer_chain {
  /// Leaf first, then the rest in the order the peer sent them: the chain-cache key and what
  /// is reported.
  std::vector<std::vector<std::uint8_t>> der;
  /// Optional: the same certificates as parsed by the TLS stack, one per DER entry, in the
  /// same order. verify_mtls then reads them instead of parsing the DER a second time (OpenSSL
  /// 3.0 spends ~50–180 us decoding each public key). Ignored unless there is one per DER.
  std::vector<std::shared_ptr<x509_st>> parsed;
  /// Set by verify_mtls_cached when the chain was not in the cache: its cache key, so that the
  /// verify_mtls that follows neither hashes the chain nor looks it up again (one miss, not two).
  std::string cache_key;
};

}  // namespace portcullis::auth
