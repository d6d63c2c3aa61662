/*
 * The store error category: stable names and messages for store::errc, shared
 * by boost::system and std error codes (Boost converts the category).
 */
#include "portcullis/store/error.hpp"

#include <string>

namespace portcullis::store {
namespace {

class store_category_impl final : public boost::system::error_category {
 public:
  // A fixed id makes categories compare equal across shared-library copies.
  constexpr store_category_impl() noexcept : boost::system::error_category(0x70c7c11153a0e001ULL) {}

  const char* name() const noexcept override { return "portcullis.store"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::not_found: return "not found";
      case errc::conflict: return "conflict with an existing record";
      case errc::quota_exceeded: return "quota exceeded";
      case errc::expired: return "expired";
      case errc::already_used: return "already used";
      case errc::invalid_argument: return "invalid argument";
      case errc::busy: return "database busy";
      case errc::io: return "database I/O error";
      case errc::corrupt: return "database corrupt";
      case errc::schema_too_new: return "database schema is newer than this build";
      case errc::internal: return "internal store error";
    }
    return "unknown store error " + std::to_string(value);
  }
};

const store_category_impl category_instance;

}  // namespace

const boost::system::error_category& store_category() noexcept { return category_instance; }

boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category_instance};
}

std::string_view name_of(errc e) noexcept {
  switch (e) {
    case errc::not_found: return "store.not_found";
    case errc::conflict: return "store.conflict";
    case errc::quota_exceeded: return "store.quota_exceeded";
    case errc::expired: return "store.expired";
    case errc::already_used: return "store.already_used";
    case errc::invalid_argument: return "store.invalid_argument";
    case errc::busy: return "store.busy";
    case errc::io: return "store.io";
    case errc::corrupt: return "store.corrupt";
    case errc::schema_too_new: return "store.schema_too_new";
    case errc::internal: return "store.internal";
  }
  return "store.unknown";
}

}  // namespace portcullis::store
