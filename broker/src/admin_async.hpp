#pragma once
// Awaitable bridges from admin coroutines (control context) to the store thread
// and to the broker actions that complete through a callback. A store job runs
// on the store thread; its result is posted back to the control context, where
// the awaiting coroutine resumes (STYLE §c25: no SQLite on the control thread).
//
// If the store is stopped and drops the job, the handler is destroyed without
// being called and the coroutine frame goes with it (shutdown only).

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin_context.hpp"
#include "portcullis/store/database.hpp"

namespace portcullis::broker {

/// Runs a copy of `job(store::database&)` on the store thread and resumes with its
/// result. `Job` must be copyable (std::function); its result type movable.
/// `job` must stay alive until the co_await starts (pass a named local).
///
/// The initiation captures only references (the awaiting coroutine's frame is
/// alive while it runs); the job is copied into the store queue there.
template <class Job>
auto run_store(admin_context& ctx, const Job& job)
    -> boost::asio::awaitable<std::invoke_result_t<Job&, store::database&>> {
  using value = std::invoke_result_t<Job&, store::database&>;
  auto init = [&ctx, &job](auto handler) {
    // std::function needs a copyable job: share the move-only handler.
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    ctx.store.post([&ctx, job, h](store::database& db) mutable {
      auto r = std::make_shared<value>(job(db));
      boost::asio::post(ctx.control, [h, r]() mutable { std::move(*h)(std::move(*r)); });
    });
  };
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(value)>(init,
                                                                                       boost::asio::use_awaitable);
}

/// Re-reads the trust snapshot (admin_context::reload_cas) and resumes when done.
inline boost::asio::awaitable<void> reload_trust(admin_context& ctx) {
  auto init = [&ctx](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    ctx.reload_cas([h]() { std::move(*h)(); });
  };
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(init,
                                                                                   boost::asio::use_awaitable);
}

}  // namespace portcullis::broker
