#pragma once
// The benchmark modes and their options. Each run_* function prints exactly one JSON line on
// stdout (diagnostics go to stderr) and returns the process exit code.

#include <cstdint>
#include <string>

namespace portcullis::bench {

struct common_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  unsigned threads = 1;        ///< threads running the one io_context
  int broker_pid = 0;          ///< sampled from /proc (CPU, RSS) when > 0
  std::string label;           ///< echoed into the JSON line ("scenario")
  std::string broker;          ///< echoed into the JSON line ("broker")
};

struct pubsub_options {
  unsigned publishers = 1;
  unsigned subscribers = 1;
  unsigned topics = 1;
  bool subscribe_all = false;  ///< every subscriber subscribes to bench/# (fan-in)
  unsigned qos = 0;
  std::size_t payload_bytes = 64;
  double duration_s = 5;
  double rate = 0;             ///< messages/s per publisher; 0 = as fast as possible
  unsigned window = 32;        ///< QoS 1 in-flight window per publisher
  unsigned batch = 64;         ///< QoS 0 messages per write at saturation
  double drain_s = 5;          ///< max wait for outstanding deliveries after the run
  std::string topic_prefix;    ///< first topic levels; default bench/<pid> (a run never sees another's backlog)
  bool persistent = false;     ///< subscribers connect with CleanSession=0 (durable sessions); removed after the run
};

struct connect_options {
  unsigned count = 1000;
  unsigned concurrency = 50;
  std::string credentials_file;  ///< "username password" per line (client id = username)
  std::string tokens_file;       ///< "clientid token" per line (username = jwt_username)
  std::string jwt_username = "_CertificateBearer";
  std::string cert_dir;          ///< <cn>.crt + <cn>.key per client; TLS; client id = CN
  bool tls = false;              ///< TLS without client certificates
  std::string client_prefix = "bench-conn-";
  double timeout_s = 30;
};

struct idle_options {
  unsigned count = 1000;
  unsigned concurrency = 200;
  double hold_s = 10;
  std::uint16_t keep_alive = 0;
  std::string client_prefix = "bench-idle-";
  std::string cert_dir;  // TLS with a client certificate per connection; client id = its CN
};

struct mint_options {
  std::string ca_cert;
  std::string ca_key;
  unsigned count = 100;
  std::string prefix = "bench-device-";
  std::string tokens_out;        ///< "clientid token" lines
  std::string cert_dir;          ///< writes <cn>.crt/<cn>.key
  bool client_auth = false;
  std::string tenant;
  std::int64_t lifetime_s = 3600;
  unsigned threads = 2;
};

int run_pubsub(const common_options& common, const pubsub_options& options);
int run_connect(const common_options& common, const connect_options& options);
int run_idle(const common_options& common, const idle_options& options);
int run_mint(const mint_options& options);

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
unsigned long raise_file_limit();

}  // namespace portcullis::bench
