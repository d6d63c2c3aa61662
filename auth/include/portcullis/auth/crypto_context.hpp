#pragma once
// The OpenSSL library context the broker's TLS server contexts are made in.

#include <cstddef>

struct ossl_lib_ctx_st;  // OSSL_LIB_CTX

namespace portcullis::auth {

/// Library context number `slot` for TLS server contexts (SSL_CTX_new_ex), one per I/O worker
/// (OpenSSL 3.0 takes a context's locks for every fetch and parse; threads sharing one
/// contend on them). Each runs OpenSSL's default provider with
/// only the public-key decoders a handshake uses (SubjectPublicKeyInfo in DER for RSA, RSA-PSS,
/// EC, Ed25519, Ed448). OpenSSL 3.0 rebuilds its whole decoder set for every public key it
/// parses, so each client certificate cost ~180 us in the default context and ~50 us here.
/// Private keys and PEM files cannot be decoded in it: load them in the default context.
///
/// nullptr (= the default context) when the process runs anything but the plain default
/// provider (FIPS, extra providers from openssl.cnf): operator policy is then kept, only slower.
/// Created on first use, never freed; thread-safe.
ossl_lib_ctx_st* tls_library_context(std::size_t slot);

}  // namespace portcullis::auth
