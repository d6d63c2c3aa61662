#pragma once
// `return text_error{"..."};` for functions returning boost::system::result<T, std::string>.
// Needed because result<std::string, std::string> (and result<aggregate, std::string>, since
// C++20 aggregates are constructible from one member) cannot tell a value from an error.

#include <string>
#include <utility>

#include <boost/system/result.hpp>

namespace portcullis::auth::detail {

struct text_error {
  std::string text;
  template <class T>
  operator boost::system::result<T, std::string>() && {  // NOLINT: implicit by design
    return boost::system::result<T, std::string>(boost::system::in_place_error, std::move(text));
  }
};

inline boost::system::result<std::string, std::string> text_value(std::string value) {
  return {boost::system::in_place_value, std::move(value)};
}

}  // namespace portcullis::auth::detail
