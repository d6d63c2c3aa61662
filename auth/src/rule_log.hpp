#pragma once
// The recorder behind both verify_x5c_jwt and explain_x5c_jwt, so that they share every check.
// In verify mode (no sink) the first failure is kept and the checks stop there; in explain
// mode every rule outcome is appended to the sink and the checks continue wherever the later
// rules still have their inputs.

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "portcullis/auth/explain.hpp"
#include "portcullis/auth/failure.hpp"

namespace portcullis::auth::detail {

class rule_log {
public:
  explicit rule_log(std::vector<rule_result>* sink = nullptr) : sink_(sink) {}

  /// Records a passed rule. Always returns true.
  bool pass(reason r, std::string detail = {}) {
    if (sink_ != nullptr) {
      sink_->push_back({std::string(code_of(r)), true, std::move(detail)});
    }
    return true;
  }

  /// Records a failed rule. Returns false (so `if (!log.fail(...))` reads naturally).
  bool fail(reason r, std::string detail) {
    if (sink_ != nullptr) {
      sink_->push_back({std::string(code_of(r)), false, detail});
    }
    ++failures_;
    if (!first_) {
      first_ = auth_failure{r, std::move(detail), tenant_};
    }
    return false;
  }

  bool check(bool ok, reason r, std::string detail) {
    return ok ? pass(r, std::move(detail)) : fail(r, std::move(detail));
  }

  /// Like pass/check, with the detail made by `detail()` only when it is recorded (explain
  /// mode, or a failure): verify mode builds no strings for the rules that pass, some of which
  /// print certificate names through a BIO.
  template <class Detail>
  bool pass_lazy(reason r, Detail&& detail) {
    return sink_ == nullptr ? true : pass(r, detail());
  }
  template <class Detail>
  bool check_lazy(bool ok, reason r, Detail&& detail) {
    return ok ? pass_lazy(r, detail) : fail(r, detail());
  }

  /// True when checking must stop now: verify mode after a failure.
  bool stop() const noexcept { return sink_ == nullptr && first_.has_value(); }
  bool failed() const noexcept { return first_.has_value(); }
  bool explaining() const noexcept { return sink_ != nullptr; }
  const auth_failure& failure() const { return *first_; }
  /// Names the tenant whose CA the chain validated against (auth_failure::tenant).
  void attribute(std::string tenant) {
    if (first_) first_->tenant = tenant;
    tenant_ = std::move(tenant);
  }
  /// Failures recorded so far (lets a stage tell its own failures from earlier ones).
  std::size_t failures() const noexcept { return failures_; }

private:
  std::vector<rule_result>* sink_;
  std::optional<auth_failure> first_;
  std::string tenant_;
  std::size_t failures_ = 0;
};

}  // namespace portcullis::auth::detail
