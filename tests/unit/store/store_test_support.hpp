#pragma once
// Test helpers for the store: a unique temporary directory per test (mkdtemp)
// holding a real SQLite file, and shortcuts that open it and unwrap results.

#include "portcullis/store/database.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

// Catch would pick boost's unconstrained result operator<<, which does not
// compile for our record types: print "ok" or the store error instead.
template <class T>
struct Catch::StringMaker<boost::system::result<T, boost::system::error_code>> {
  static std::string convert(const boost::system::result<T, boost::system::error_code>& r) {
    if (r.has_value()) {
      return "ok";
    }
    return "error " + std::string(r.error().category().name()) + ":" + r.error().message();
  }
};

namespace portcullis::store::test {

class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/portcullis-store-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const char* made = ::mkdtemp(buffer.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string file(const std::string& name = "portcullis.db") const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::unique_ptr<database> open_db(const std::string& path, const options& opts = {}) {
  std::string detail;
  auto db = database::open(path, opts, &detail);
  INFO("open failed: " << detail);
  REQUIRE(db.has_value());
  return std::move(*db);
}

/// 64 lowercase hex chars derived from a small number (fingerprints, token hashes).
inline std::string hex64(unsigned n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (int i = 63; i >= 0 && n != 0; --i, n >>= 4) {
    out[static_cast<std::size_t>(i)] = digits[n & 0xf];
  }
  return out;
}

constexpr std::int64_t t0 = 1'700'000'000;

}  // namespace portcullis::store::test
