// Prometheus text rendering of the broker's counters.

#include "metrics.hpp"

#include <sstream>

namespace portcullis::broker {

std::string_view name_of(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::queue_full: return "queue_full";
    case drop_reason::expired: return "expired";
    case drop_reason::offline_qos0: return "offline_qos0";
    case drop_reason::session_expired: return "session_expired";
    case drop_reason::count_: break;
  }
  return "unknown";
}

traffic_shard& metrics::traffic() {
  struct cached {
    const metrics* owner = nullptr;
    traffic_shard* shard = nullptr;
  };
  thread_local cached c;
  if (c.owner != this) {
    std::lock_guard lock(mutex_);
    shards_.push_back(std::make_unique<traffic_shard>());
    c = {this, shards_.back().get()};
  }
  return *c.shard;
}

metrics::traffic_totals metrics::traffic_total() const {
  std::lock_guard lock(mutex_);
  traffic_totals t;
  for (const auto& s : shards_) {
    t.messages_in += s->messages_in.load(std::memory_order_relaxed);
    t.messages_out += s->messages_out.load(std::memory_order_relaxed);
    t.bytes_in += s->bytes_in.load(std::memory_order_relaxed);
    t.bytes_out += s->bytes_out.load(std::memory_order_relaxed);
    t.packets_in += s->packets_in.load(std::memory_order_relaxed);
    t.packets_out += s->packets_out.load(std::memory_order_relaxed);
    t.writes += s->writes.load(std::memory_order_relaxed);
  }
  return t;
}

void metrics::auth_failure(const std::string& reason) {
  std::lock_guard lock(mutex_);
  ++auth_failures_[reason];
}

void metrics::register_auth_reason(const std::string& reason) {
  std::lock_guard lock(mutex_);
  auth_failures_.try_emplace(reason, 0);
}

void metrics::observe_store_latency(double seconds) {
  std::lock_guard lock(mutex_);
  std::size_t i = 0;
  while (i < store_buckets_.size() && seconds > store_buckets_[i]) ++i;
  ++store_counts_[i];
  store_sum_ += seconds;
  ++store_total_;
}

std::string metrics::render(std::size_t sessions, std::size_t subscriptions) const {
  std::ostringstream o;
  auto load = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  auto gauge = [&](const char* name, const char* help, auto value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << value << '\n';
  };
  auto counter = [&](const char* name, const char* help, auto value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n" << name << ' ' << value << '\n';
  };
  gauge("portcullis_connections", "Open MQTT connections.", load(connections_current));
  // Not portcullis_connections_total: in OpenMetrics that counter would be the family
  // "portcullis_connections", the gauge above.
  counter("portcullis_connections_accepted_total", "MQTT connections accepted at the socket level.",
          load(connections_total));
  counter("portcullis_connections_refused_limit_total", "Connections closed because max_connections was reached.",
          load(connections_refused_limit));
  counter("portcullis_connects_accepted_total", "CONNECTs accepted (CONNACK 0).", load(connects_accepted));
  auto traffic = traffic_total();
  counter("portcullis_messages_in_total", "PUBLISH packets received.", traffic.messages_in);
  counter("portcullis_messages_out_total", "PUBLISH packets sent.", traffic.messages_out);
  counter("portcullis_bytes_in_total", "Bytes received on MQTT connections.", traffic.bytes_in);
  counter("portcullis_bytes_out_total", "Bytes sent on MQTT connections.", traffic.bytes_out);
  counter("portcullis_packets_in_total", "MQTT packets received.", traffic.packets_in);
  counter("portcullis_packets_out_total", "MQTT packets sent.", traffic.packets_out);
  counter("portcullis_socket_writes_total",
          "Batches of packets written to client sockets (one sendmsg or TLS write each, unless the socket was full); "
          "packets_out / socket_writes is how many packets a write carries.",
          traffic.writes);
  counter("portcullis_rate_limit_throttled_total", "Times a client's reading was paused by the rate limit.",
          load(rate_limit_throttled));
  counter("portcullis_backpressure_pauses_total",
          "Times a publisher stopped being read because a subscriber queue was congested (QoS 1; QoS 0 while the subscriber keeps up).",
          load(backpressure_pauses));
  counter("portcullis_backpressure_timeouts_total",
          "Backpressure pauses ended by the 2 s limit rather than by the queue draining.", load(backpressure_timeouts));
  counter("portcullis_rate_limit_disconnects_total", "Clients disconnected by the rate limit.",
          load(rate_limit_disconnected));
  counter("portcullis_protocol_errors_total", "Connections closed for malformed or forbidden packets.",
          load(protocol_errors));
  counter("portcullis_packet_too_large_total", "Connections closed for a packet over max_packet_bytes.",
          load(packet_too_large));
  counter("portcullis_keepalive_timeouts_total", "Connections closed after 1.5x keep-alive without a packet.",
          load(keepalive_timeouts));
  counter("portcullis_connect_timeouts_total", "Connections closed for no CONNECT within connect_timeout_seconds.",
          load(connect_timeouts));
  counter("portcullis_session_takeovers_total", "Connections closed because the same client id connected again.",
          load(takeovers));
  counter("portcullis_token_expiry_disconnects_total", "Connections closed when their JWT expired.",
          load(token_expiry_disconnects));
  gauge("portcullis_sessions", "Sessions held (connected and persistent offline).", sessions);
  counter("portcullis_session_commits_total", "Group commits of persistent-session changes to the store.",
          load(session_commits));
  counter("portcullis_session_ops_committed_total", "Persistent-session operations written by those commits.",
          load(session_ops_committed));
  counter("portcullis_session_entries_cancelled_total",
          "Persistent queue entries acknowledged (or dropped) before their commit: never written.",
          load(session_entries_cancelled));
  gauge("portcullis_subscriptions", "Subscriptions in the routing index.", subscriptions);
  o << "# HELP portcullis_dropped_messages_total Messages not delivered, by reason.\n"
       "# TYPE portcullis_dropped_messages_total counter\n";
  for (std::size_t i = 0; i < drops.size(); ++i) {
    o << "portcullis_dropped_messages_total{reason=\"" << name_of(static_cast<drop_reason>(i)) << "\"} "
      << drops[i].load(std::memory_order_relaxed) << '\n';
  }
  o << "# HELP portcullis_ignored_features_total Unsupported flags dropped (mqtt.unsupported_features=ignore).\n"
       "# TYPE portcullis_ignored_features_total counter\n"
    << "portcullis_ignored_features_total{feature=\"will\"} " << load(ignored[0]) << '\n'
    << "portcullis_ignored_features_total{feature=\"retain\"} " << load(ignored[1]) << '\n';
  std::lock_guard lock(mutex_);
  o << "# HELP portcullis_auth_failures_total Refused CONNECTs, by reason code.\n"
       "# TYPE portcullis_auth_failures_total counter\n";
  for (const auto& [reason, n] : auth_failures_) {
    o << "portcullis_auth_failures_total{reason=\"" << reason << "\"} " << n << '\n';
  }
  o << "# HELP portcullis_store_operation_seconds Latency of store (SQLite) operations.\n"
       "# TYPE portcullis_store_operation_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < store_buckets_.size(); ++i) {
    cumulative += store_counts_[i];
    o << "portcullis_store_operation_seconds_bucket{le=\"" << store_buckets_[i] << "\"} " << cumulative << '\n';
  }
  cumulative += store_counts_[store_buckets_.size()];
  o << "portcullis_store_operation_seconds_bucket{le=\"+Inf\"} " << cumulative << '\n'
    << "portcullis_store_operation_seconds_sum " << store_sum_ << '\n'
    << "portcullis_store_operation_seconds_count " << store_total_ << '\n';
  return o.str();
}

}  // namespace portcullis::broker
