#pragma once
// An immutable snapshot of the registered tenant CAs (trust anchors). Built once from DER
// (from the store at start-up, after an admin upload or delete, on SIGHUP) and shared as
// std::shared_ptr<const trust_store> by every connection; a change builds a new snapshot and
// the broker swaps the pointer (STYLE §c30). Verifiers only ever trust one anchor of this
// snapshot per verification (the one matched to the presented chain).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

namespace detail {
struct trust_store_access;
}

/// A registered tenant CA as the store keeps it.
struct trust_anchor {
  std::string id;                  ///< store id of the CA (stable, used by invalidate_ca)
  std::string tenant;              ///< owning tenant
  std::vector<std::uint8_t> der;   ///< the CA certificate, DER
};

/// Read-only facts about one anchor of a snapshot.
struct anchor_info {
  std::string id;
  std::string tenant;
  std::string sha256;        ///< SHA-256 of the DER, lowercase hex
  std::string subject;       ///< RFC 2253 subject DN
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
};

/// Immutable set of parsed trust anchors.
/// Thread-safety: all member functions are const and safe to call concurrently; the parsed
/// X509 objects are fully initialised (extensions cached) at construction and never mutated.
class trust_store {
public:
  /// Parses every anchor. An anchor whose DER does not parse (or is a duplicate id) is
  /// skipped and described in `*rejected` when given; it never aborts the whole snapshot.
  static std::shared_ptr<const trust_store> create(std::vector<trust_anchor> anchors,
                                                   std::vector<std::string>* rejected = nullptr);

  /// An empty snapshot (no tenant CA: every chain is refused with x5c.no_tenant_ca).
  static std::shared_ptr<const trust_store> empty();

  ~trust_store();
  trust_store(const trust_store&) = delete;
  trust_store& operator=(const trust_store&) = delete;

  std::size_t size() const noexcept;
  /// Monotonic process-wide number of this snapshot (later snapshots have larger numbers).
  std::uint64_t generation() const noexcept;
  std::vector<anchor_info> anchors() const;
  std::optional<anchor_info> find(std::string_view ca_id) const;
  /// True when an anchor with this id and this DER fingerprint is in the snapshot.
  bool contains(std::string_view ca_id, std::string_view sha256) const;

  struct impl;

private:
  explicit trust_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
  friend struct detail::trust_store_access;
};

}  // namespace portcullis::auth
