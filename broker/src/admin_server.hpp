#pragma once
// The admin HTTP API (SPEC §5) on Boost.Beast, served on the control context.

#include <cstdint>
#include <memory>

#include "admin_context.hpp"

namespace portcullis::broker {

class admin_server {
 public:
  explicit admin_server(admin_context& ctx);
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// Binds the http listener `listeners[index]`; returns the bound port.
  /// Throws config_error naming `listeners[index].bind` when it cannot listen.
  std::uint16_t listen(const listener_config& l, std::size_t index);
  /// Starts accepting (on ctx.control).
  void start();
  /// Stops accepting and closes open admin connections.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::broker
