#pragma once
// `portcullis serve`: owns every thread of the daemon (control, workers, store,
// auth pool), binds the listeners, writes ports.json, notifies systemd, and runs
// until SIGTERM/SIGINT (graceful stop, exit 0). SIGHUP reloads TLS files and CAs.

#include <memory>

#include "portcullis/broker/config.hpp"

namespace portcullis::broker {

class server {
 public:
  explicit server(config cfg);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Runs on the calling (control) thread until stopped. Returns the process exit
  /// code. Throws config_error for start-up failures caused by the configuration.
  int run();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::broker
