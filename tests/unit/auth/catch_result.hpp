#pragma once
// Lets Catch2 print boost::system::result in CHECK/REQUIRE (Boost's own operator<< requires
// the value type to be printable, which ours are not).

#include <string>

#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

#include "portcullis/auth/failure.hpp"

namespace Catch {
template <class T, class E>
struct StringMaker<boost::system::result<T, E>> {
  static std::string convert(const boost::system::result<T, E>& r) {
    if (r.has_value()) {
      return "value";
    }
    if constexpr (std::is_same_v<E, portcullis::auth::auth_failure>) {
      return "error " + std::string(portcullis::auth::code_of(r.error().code)) + ": " + r.error().detail;
    } else if constexpr (std::is_same_v<E, std::string>) {
      return "error: " + r.error();
    } else {
      return "error";
    }
  }
};
}  // namespace Catch
