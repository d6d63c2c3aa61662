// chain_cache: a hit skips path validation but not the signature or claims (x5c) or the CN
// rule (mTLS); a CA removed from the trust store (or invalidated) turns hits into
// re-validations that fail; x5c and mTLS results never stand for each other.

#include "portcullis/auth/chain_cache.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "portcullis/auth/mtls_verifier.hpp"
#include "portcullis/auth/trust_store.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "test_pki.hpp"

namespace {

using namespace portcullis::auth;
using namespace portcullis::auth::test;

boost::system::result<identity, auth_failure> verify(const std::string& token, const trust_store& store,
                                                     chain_cache& cache, std::int64_t at = now) {
  return verify_x5c_jwt("_CertificateBearer", token, client_id, store, x5c_options{}, at, &cache);
}

}  // namespace

TEST_CASE("chain cache", "[auth][cache]") {
  const auto& f = pki_fixture();
  chain_cache cache;
  auto token = valid_builder().build();
  REQUIRE(verify(token, *f.root_store, cache));
  CHECK(cache.size() == 1);
  CHECK(cache.stats().misses == 1);

  SECTION("second verify is a hit with the same identity") {
    auto r = verify(token, *f.root_store, cache);
    REQUIRE(r);
    CHECK(cache.stats().hits == 1);
    CHECK(r->ca_id == "ca-root");
    CHECK(r->subject_dn == std::string("CN=") + client_id);
  }
  SECTION("a hit still verifies the signature") {
    auto b = valid_builder();
    b.key_pem = f.other_key;
    auto r = verify(b.build(), *f.root_store, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_signature);
    CHECK(cache.stats().hits == 1);
  }
  SECTION("the same token again skips the RSA operation; any other payload or signature does not") {
    REQUIRE(verify(token, *f.root_store, cache));
    CHECK(cache.stats().repeated_tokens == 1);
    const auto dot1 = token.find('.');
    const auto dot2 = token.rfind('.');
    const std::string signature = token.substr(dot2 + 1);
    // Another payload under the same header, carrying the remembered signature: refused.
    auto later = valid_builder();
    later.set_claim("jti", quote("another-token-id"));
    auto other = later.build();
    const std::string other_payload = other.substr(dot1 + 1, other.rfind('.') - dot1 - 1);
    auto r = verify(token.substr(0, dot1 + 1) + other_payload + "." + signature, *f.root_store, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_signature);
    // The remembered payload with one signature character changed: refused.
    std::string bent = signature;
    bent[10] = bent[10] == 'A' ? 'B' : 'A';
    r = verify(token.substr(0, dot2 + 1) + bent, *f.root_store, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_signature);
    CHECK(cache.stats().repeated_tokens == 1);
    // A new, properly signed token is verified (and becomes the remembered one): the old one
    // then costs its RSA operation again, and is still accepted.
    REQUIRE(verify(other, *f.root_store, cache));
    REQUIRE(verify(other, *f.root_store, cache));
    CHECK(cache.stats().repeated_tokens == 2);
    REQUIRE(verify(token, *f.root_store, cache));
    CHECK(cache.stats().repeated_tokens == 2);
  }
  SECTION("a repeated token still meets every claim rule: past its exp it is refused") {
    REQUIRE(verify(token, *f.root_store, cache));
    CHECK(cache.stats().repeated_tokens == 1);
    auto r = verify(token, *f.root_store, cache, now + 7 * 86400);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_exp);
  }
  SECTION("a hit still checks claims and ten") {
    auto b = valid_builder();
    b.set_claim("ten", quote("globex"));
    auto r = verify(b.build(), *f.root_store, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_ten);
  }
  SECTION("an entry is keyed by the whole header: any other header is a miss and meets every header rule") {
    // Same x5c, another algorithm: not a hit, refused by the header rule.
    auto alg = valid_builder();
    alg.set_header("alg", quote("RS512"));
    auto r = verify(alg.build(), *f.root_store, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_alg);
    // Same x5c, an extra (harmless) header parameter: a miss that validates and adds an entry.
    auto kid = valid_builder();
    kid.set_header("kid", quote("k1"));
    REQUIRE(verify(kid.build(), *f.root_store, cache));
    CHECK(cache.stats().hits == 0);
    CHECK(cache.size() == 2);
    REQUIRE(verify(kid.build(), *f.root_store, cache));
    CHECK(cache.stats().hits == 1);
  }
  SECTION("a hit reports a broken payload as a miss does") {
    std::string broken = token.substr(0, token.find('.') + 1) + "!!!." + token.substr(token.rfind('.') + 1);
    auto r = verify(broken, *f.root_store, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::jwt_format);
    CHECK_THAT(r.error().detail, Catch::Contains("payload"));
  }
  SECTION("CA removed from the trust store: miss, then refused") {
    auto without = trust_store::create({{"ca-other", "other", f.der(f.evil_root)}});
    auto r = verify(token, *without, cache);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::x5c_no_tenant_ca);
    CHECK(cache.stats().hits == 0);
  }
  SECTION("same CA id with a different certificate is not a hit") {
    auto replaced = trust_store::create({{"ca-root", tenant, f.der(f.evil_root)}});
    auto r = verify(token, *replaced, cache);
    REQUIRE_FALSE(r);
    CHECK(cache.stats().hits == 0);
  }
  SECTION("invalidate_ca drops the entry") {
    cache.invalidate_ca("ca-root");
    CHECK(cache.size() == 0);
    REQUIRE(verify(token, *f.root_store, cache));
    CHECK(cache.stats().misses == 2);
  }
  SECTION("past the chain's notAfter the entry is not used") {
    std::int64_t late = now + 366 * 86400;
    auto b = valid_builder();
    b.set_claim("iat", std::to_string(late)).set_claim("nbf", std::to_string(late))
        .set_claim("exp", std::to_string(late + 600));
    auto r = verify(b.build(), *f.root_store, cache, late);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::x5c_expired);
  }
  SECTION("bounded size") {
    chain_cache small(1);
    REQUIRE(verify(token, *f.root_store, small));
    auto other = valid_builder(f.device, {&f.intermediate, &f.root}).build();
    REQUIRE(verify(other, *f.root_store, small));
    CHECK(small.size() == 1);
  }
  SECTION("concurrent verifications share the cache and the trust store") {
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 10; ++i) {
          ok += verify(token, *f.root_store, cache).has_value() ? 1 : 0;
          ok += verify_x5c_jwt("_CertificateBearer", token, client_id, *f.root_store, x5c_options{}, now)
                    .has_value() ? 1 : 0;
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    CHECK(ok == 80);
  }
}

TEST_CASE("verify_x5c_jwt_cached: answers only what a cache hit decides", "[auth][cache]") {
  // What the broker runs on an I/O thread: a known chain is decided there (claims and the RS256
  // signature included); an unknown one is left for verify_x5c_jwt, counted as one miss.
  const auto& f = pki_fixture();
  chain_cache cache;
  auto token = valid_builder().build();
  auto cached = [&](const std::string& t, std::string_view user = "_CertificateBearer") {
    return verify_x5c_jwt_cached(user, t, client_id, *f.root_store, x5c_options{}, now, cache);
  };
  CHECK_FALSE(cached(token).has_value());  // unknown chain: validate elsewhere
  CHECK(cache.stats().misses == 0);        // the later full verification counts the miss
  REQUIRE(verify(token, *f.root_store, cache));
  CHECK(cache.stats().misses == 1);

  auto hit = cached(token);
  REQUIRE(hit.has_value());
  REQUIRE(*hit);
  CHECK((*hit)->ca_id == "ca-root");
  CHECK((*hit)->tenant == tenant);
  CHECK(cache.stats().hits == 1);

  SECTION("a forged signature on a known chain is refused right there") {
    auto b = valid_builder();
    b.key_pem = f.other_key;
    auto r = cached(b.build());
    REQUIRE(r.has_value());
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == reason::jwt_signature);
  }
  SECTION("expired claims on a known chain are refused right there, attributed to the tenant") {
    auto b = valid_builder();
    b.set_claim("iat", std::to_string(now - 7200)).set_claim("exp", std::to_string(now - 3600));
    auto r = cached(b.build());
    REQUIRE(r.has_value());
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == reason::jwt_exp);
    CHECK(r->error().tenant == tenant);
  }
  SECTION("the wrong username is refused before any lookup") {
    auto r = cached(token, "someone");
    REQUIRE(r.has_value());
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == reason::auth_username);
    CHECK(cache.stats().hits == 1);
  }
  SECTION("a header the cache does not know is not decided here") {
    auto kid = valid_builder();
    kid.set_header("kid", quote("k2"));
    CHECK_FALSE(cached(kid.build()).has_value());
  }
  SECTION("the prepared RS256 context serves several threads at once") {
    auto forged_builder = valid_builder();
    forged_builder.key_pem = f.other_key;
    auto forged = forged_builder.build();
    std::vector<std::thread> threads;
    std::atomic<int> accepted{0};
    std::atomic<int> refused{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 25; ++i) {
          auto good = cached(token);
          accepted += good && *good ? 1 : 0;
          auto bad = cached(forged);
          refused += bad && !*bad && bad->error().code == reason::jwt_signature ? 1 : 0;
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    CHECK(accepted == 100);
    CHECK(refused == 100);
  }
}

TEST_CASE("chain cache: an entry outlives the thread that made it", "[auth][cache]") {
  // Certificates and keys are decoded in the verifying thread's own OpenSSL context; a cached
  // device key must stay usable from other threads after that thread has ended.
  const auto& f = pki_fixture();
  chain_cache cache;
  auto token = valid_builder().build();
  std::thread([&] { REQUIRE(verify(token, *f.root_store, cache)); }).join();
  auto r = verify(token, *f.root_store, cache);
  REQUIRE(r);
  CHECK(cache.stats().hits == 1);
  auto b = valid_builder();
  b.key_pem = f.other_key;
  auto forged = verify(b.build(), *f.root_store, cache);
  REQUIRE_FALSE(forged);
  CHECK(forged.error().code == reason::jwt_signature);
}

TEST_CASE("chain cache for mTLS chains", "[auth][cache][mtls]") {
  const auto& f = pki_fixture();
  chain_cache cache;
  const std::vector<std::vector<std::uint8_t>> chain{f.der(f.device), f.der(f.intermediate)};
  auto mtls = [&](const std::vector<std::vector<std::uint8_t>>& c, const char* id, const trust_store& store,
                  std::int64_t at = now) { return verify_mtls(c, id, store, at, mtls_options{}, &cache); };
  REQUIRE(mtls(chain, client_id, *f.root_store));
  CHECK(cache.size() == 1);
  CHECK(cache.stats().misses == 1);

  SECTION("a reconnect is a hit with the same identity") {
    auto r = mtls(chain, client_id, *f.root_store);
    REQUIRE(r);
    CHECK(cache.stats().hits == 1);
    CHECK(r->method == "mtls");
    CHECK(r->ca_id == "ca-root");
    CHECK(r->subject_dn == std::string("CN=") + client_id);
  }
  SECTION("a hit still requires client id == CN") {
    auto r = mtls(chain, "device-0002-abcdef", *f.root_store);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_cn_mismatch);
    CHECK(cache.stats().hits == 1);
  }
  SECTION("CA removed from the trust store: miss, then refused") {
    auto without = trust_store::create({{"ca-other", "other", f.der(f.evil_root)}});
    auto r = mtls(chain, client_id, *without);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK(r.error().detail.find("x5c.no_tenant_ca") != std::string::npos);
    CHECK(cache.stats().hits == 0);
  }
  SECTION("same CA id with a different certificate is not a hit") {
    auto replaced = trust_store::create({{"ca-root", tenant, f.der(f.evil_root)}});
    REQUIRE_FALSE(mtls(chain, client_id, *replaced));
    CHECK(cache.stats().hits == 0);
  }
  SECTION("invalidate_ca drops the entry") {
    cache.invalidate_ca("ca-root");
    CHECK(cache.size() == 0);
    REQUIRE(mtls(chain, client_id, *f.root_store));
    CHECK(cache.stats().misses == 2);
  }
  SECTION("past the chain's notAfter the entry is not used") {
    auto r = mtls(chain, client_id, *f.root_store, now + 366 * 86400);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == reason::mtls_chain);
    CHECK(cache.stats().hits == 0);
  }
  SECTION("a refusal is never cached") {
    const std::vector<std::vector<std::uint8_t>> evil{f.der(f.evil_device), f.der(f.evil_root)};
    REQUIRE_FALSE(mtls(evil, client_id, *f.root_store));
    REQUIRE_FALSE(mtls(evil, client_id, *f.root_store));
    CHECK(cache.size() == 1);
    CHECK(cache.stats().misses == 3);
  }
  SECTION("the cached-only check (for I/O threads) answers hits and input errors, defers the rest") {
    peer_chain pc;
    pc.der = chain;
    auto cached = [&](const char* id, const trust_store& store, std::int64_t at, chain_cache& c) {
      return verify_mtls_cached(pc, id, store, at, mtls_options{}, c);
    };
    chain_cache fresh;
    CHECK_FALSE(cached(client_id, *f.root_store, now, fresh).has_value());  // never validated: the pool's job
    CHECK(fresh.size() == 0);
    // The validation that follows reuses the deferred lookup: one miss, and the chain is cached.
    REQUIRE(verify_mtls(pc, client_id, *f.root_store, now, mtls_options{}, &fresh));
    CHECK(fresh.stats().misses == 1);
    CHECK(fresh.size() == 1);
    auto hit = cached(client_id, *f.root_store, now, cache);
    REQUIRE(hit.has_value());
    REQUIRE(*hit);
    CHECK((*hit)->ca_id == "ca-root");
    CHECK((*hit)->method == "mtls");
    CHECK(cache.stats().hits == 1);
    auto cn = cached("device-0002-abcdef", *f.root_store, now, cache);
    REQUIRE(cn.has_value());
    REQUIRE_FALSE(*cn);
    CHECK(cn->error().code == reason::mtls_cn_mismatch);
    auto short_id = cached("dev", *f.root_store, now, cache);
    REQUIRE(short_id.has_value());
    REQUIRE_FALSE(*short_id);
    CHECK(short_id->error().code == reason::client_id_length);
    // What the cache cannot vouch for goes to full validation, which refuses it.
    auto without = trust_store::create({{"ca-other", "other", f.der(f.evil_root)}});
    CHECK_FALSE(cached(client_id, *without, now, cache).has_value());
    CHECK_FALSE(cached(client_id, *f.root_store, now + 366 * 86400, cache).has_value());
    CHECK(cache.stats().hits == 2);
  }
  SECTION("an x5c entry for the same certificates is not an mTLS hit, nor the reverse") {
    // Different rules (x5c: order and device profile; mTLS: purpose sslclient), so neither
    // result may stand for the other.
    REQUIRE(verify(valid_builder().build(), *f.root_store, cache));  // x5c = [device, intermediate]
    CHECK(cache.stats().hits == 0);
    CHECK(cache.size() == 2);
    REQUIRE(mtls(chain, client_id, *f.root_store));
    REQUIRE(verify(valid_builder().build(), *f.root_store, cache));
    CHECK(cache.stats().hits == 2);
  }
}
