// trust_store: parses registered tenant CAs once into an immutable snapshot (trust_store.hpp).
// Each X509 is fully decoded here (X509_check_purpose caches its extensions) so that later
// concurrent verifications only read it; X509_STORE_add_cert up-refs atomically.

#include "portcullis/auth/trust_store.hpp"

#include <algorithm>
#include <atomic>
#include <unordered_set>

#include "trust_store_impl.hpp"

namespace portcullis::auth {
namespace {
std::atomic<std::uint64_t> next_generation{1};
}

trust_store::trust_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
trust_store::~trust_store() = default;

std::shared_ptr<const trust_store> trust_store::create(std::vector<trust_anchor> anchors,
                                                       std::vector<std::string>* rejected) {
  auto p = std::make_unique<impl>();
  p->generation = next_generation.fetch_add(1, std::memory_order_relaxed);
  std::unordered_set<std::string> ids;
  for (auto& anchor : anchors) {
    auto cert = detail::parse_der(anchor.der);
    if (!cert) {
      if (rejected != nullptr) {
        rejected->push_back("CA " + anchor.id + " (tenant " + anchor.tenant + "): DER does not parse");
      }
      continue;
    }
    if (!ids.insert(anchor.id).second) {
      if (rejected != nullptr) {
        rejected->push_back("CA " + anchor.id + ": duplicate id");
      }
      continue;
    }
    impl::entry e;
    e.info.id = std::move(anchor.id);
    e.info.tenant = std::move(anchor.tenant);
    e.info.sha256 = detail::sha256_hex_of(anchor.der);
    e.info.subject = detail::subject_of(cert.get());
    e.info.not_before = detail::not_before_of(cert.get());
    e.info.not_after = detail::not_after_of(cert.get());
    e.cert = std::move(cert);
    e.der = std::move(anchor.der);
    p->by_sha256.emplace(e.info.sha256, p->entries.size());
    p->by_subject.emplace(e.info.subject, p->entries.size());
    p->by_object.emplace(e.cert.get(), p->entries.size());
    p->entries.push_back(std::move(e));
  }
  detail::drain_errors();
  return std::shared_ptr<const trust_store>(new trust_store(std::move(p)));
}

const trust_store::impl::entry* trust_store::impl::find_der(std::span<const std::uint8_t> der) const {
  auto it = by_sha256.find(detail::sha256_hex_of(der));
  if (it == by_sha256.end()) {
    return nullptr;
  }
  const entry& e = entries[it->second];
  // The fingerprint names the candidate; equal bytes make it certain.
  return std::equal(der.begin(), der.end(), e.der.begin(), e.der.end()) ? &e : nullptr;
}

std::shared_ptr<const trust_store> trust_store::empty() {
  return create({});
}

std::size_t trust_store::size() const noexcept {
  return impl_->entries.size();
}

std::uint64_t trust_store::generation() const noexcept {
  return impl_->generation;
}

std::vector<anchor_info> trust_store::anchors() const {
  std::vector<anchor_info> out;
  out.reserve(impl_->entries.size());
  for (const auto& e : impl_->entries) {
    out.push_back(e.info);
  }
  return out;
}

std::optional<anchor_info> trust_store::find(std::string_view ca_id) const {
  for (const auto& e : impl_->entries) {
    if (e.info.id == ca_id) {
      return e.info;
    }
  }
  return std::nullopt;
}

bool trust_store::contains(std::string_view ca_id, std::string_view sha256) const {
  for (const auto& e : impl_->entries) {
    if (e.info.id == ca_id && e.info.sha256 == sha256) {
      return true;
    }
  }
  return false;
}

}  // namespace portcullis::auth
