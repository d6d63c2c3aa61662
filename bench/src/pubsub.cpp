// `portcullis-bench pubsub`: P publishers, S subscribers, T topics, QoS 0 or 1.
//
// Topic mapping (identical for every broker): publisher i publishes on <prefix>/t<i % T>;
// subscriber j subscribes to <prefix>/t<j % T>, or to <prefix>/# with --subscribe-all (fan-in).
// Every payload starts with {u32 publisher, u64 sequence, u64 steady-clock ns}; latency is
// receive time minus that timestamp (same host, same clock).
//
// QoS 1 accounting: a publisher keeps at most --window messages unacknowledged. After the run,
// for every message its publisher got a PUBACK for, each subscriber whose filter matches must
// have received it at least once (duplicates are allowed, MQTT 3.1.1 §4.3.2); a message missing
// at any of them counts once in `lost`. The run waits up to --drain seconds for stragglers.
//
// --persistent: subscribers connect with CleanSession=0, so the broker must make every QoS 1
// message durable in their sessions before it acknowledges the publisher (Portcullis; Mosquitto
// only keeps them in memory). Their sessions are discarded after the report.
//
// Threading: one io_context run by --threads threads; every client lives on its own strand, so
// its coroutines never race. Cross-client totals are atomics; per-client data (bitmaps,
// histograms) is merged after the io_context has stopped.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include "modes.hpp"
#include "mqtt_client.hpp"
#include "stats.hpp"

namespace portcullis::bench {

namespace {

using namespace std::chrono_literals;
constexpr std::size_t header_bytes = 4 + 8 + 8;

struct shared_state {
  std::atomic<bool> go{false};          // publishers may start
  std::atomic<bool> stop{false};        // publishers stop sending
  std::atomic<bool> finished{false};    // connections are closing: errors are expected
  std::atomic<std::uint64_t> start_ns{0};
  std::atomic<std::uint64_t> end_ns{0};
  std::atomic<unsigned> ready{0};
  std::atomic<unsigned> failed{0};
  std::atomic<std::uint64_t> inflight{0};
  std::atomic<std::uint64_t> expected_unique{0};  // QoS 1: acked messages x matching subscribers
  std::atomic<std::uint64_t> received_unique{0};
  std::atomic<std::uint64_t> delivered{0};
};

struct client_base {
  explicit client_base(asio::io_context& ioc)
      : strand(asio::make_strand(ioc)), conn(strand, nullptr, 64 * 1024), wake(strand) {}
  asio::strand<asio::io_context::executor_type> strand;
  mqtt_connection conn;
  asio::steady_timer wake;  // a condition variable: waits are woken by cancel()
};

struct publisher : client_base {
  using client_base::client_base;
  unsigned index = 0;
  std::string topic;
  unsigned fanout = 0;
  std::vector<std::uint8_t> payload;
  std::vector<std::uint8_t> wbuf;
  std::vector<std::uint64_t> pid_seq = std::vector<std::uint64_t>(65536);
  std::vector<bool> acked;
  std::uint64_t next_seq = 0;
  std::uint64_t acked_count = 0;
  unsigned inflight = 0;
  std::uint64_t sent = 0;
};

struct subscriber : client_base {
  using client_base::client_base;
  unsigned index = 0;
  std::vector<std::string> filters;
  std::vector<std::vector<bool>> received;  // [publisher][sequence], QoS 1 only
  std::vector<std::uint8_t> pending_acks;
  std::vector<std::uint8_t> writing_acks;
  histogram latency;
  std::uint64_t delivered = 0;
  std::uint64_t delivered_in_window = 0;
  std::uint64_t duplicates = 0;
};

class pubsub_run {
 public:
  pubsub_run(const common_options& c, const pubsub_options& o) : common_(c), opt_(o) {}
  int run();

 private:
  awaitable<void> run_publisher(publisher& p);
  awaitable<void> publisher_acks(publisher& p);
  awaitable<void> run_subscriber(subscriber& s);
  awaitable<void> subscriber_writer(subscriber& s);
  awaitable<void> control();
  awaitable<void> discard_session(unsigned index);
  void discard_persistent_sessions();
  void on_delivery(subscriber& s, const protocol::frame& f);
  void print_report() const;
  template <class F>
  void spawn(client_base& c, F&& make, const char* what) {
    asio::co_spawn(c.strand, std::forward<F>(make), [what](std::exception_ptr e) { report_exception(e, what); });
  }

  const common_options& common_;
  const pubsub_options& opt_;
  asio::io_context ioc_;
  tcp::endpoint endpoint_;
  shared_state state_;
  std::vector<std::unique_ptr<publisher>> pubs_;
  std::vector<std::unique_ptr<subscriber>> subs_;
  process_sample before_, after_;
  std::string prefix_;
  double client_cpu_start_ = 0, client_cpu_window_ = 0;
};

awaitable<void> pubsub_run::run_publisher(publisher& p) {
  const std::string id = "bench-pub-" + std::to_string(::getpid()) + "-" + std::to_string(p.index);
  // Named locals, not temporaries, inside co_await expressions: g++ 12 destroys some such
  // temporaries twice (GCC bug 100611).
  connect_params params;
  params.client_id = id;
  auto outcome = co_await p.conn.connect(endpoint_, params);
  if (outcome.connack_code != 0) {
    std::fprintf(stderr, "publisher %u: connect failed (%d %s)\n", p.index, outcome.connack_code,
                 outcome.error.c_str());
    ++state_.failed;
    co_return;
  }
  ++state_.ready;
  if (opt_.qos > 0) spawn(p, publisher_acks(p), "publisher acks");
  while (!state_.go.load()) {
    p.wake.expires_after(1ms);
    co_await p.wake.async_wait(use_nothrow);
    if (state_.finished.load()) co_return;
  }
  const std::uint64_t start = state_.start_ns.load();
  const double ns_per_msg = opt_.rate > 0 ? 1e9 / opt_.rate : 0;
  while (!state_.stop.load()) {
    std::uint64_t allowed = opt_.qos > 0 ? opt_.window - p.inflight : opt_.batch;
    if (opt_.rate > 0) {
      const auto due = static_cast<std::uint64_t>(static_cast<double>(now_ns() - start) / ns_per_msg) + 1;
      allowed = std::min<std::uint64_t>(allowed, due > p.next_seq ? due - p.next_seq : 0);
    }
    if (allowed == 0) {
      // Sleep until the next message is due, a PUBACK frees the window, or 20 ms pass (to see stop).
      auto deadline = std::chrono::steady_clock::now() + 20ms;
      if (opt_.rate > 0 && (opt_.qos == 0 || p.inflight < opt_.window)) {
        const auto due_at = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(
            start + static_cast<std::uint64_t>(static_cast<double>(p.next_seq) * ns_per_msg)));
        deadline = std::min(deadline, due_at);
      }
      p.wake.expires_at(deadline);
      co_await p.wake.async_wait(use_nothrow);
      continue;
    }
    p.wbuf.clear();
    for (std::uint64_t k = 0; k < allowed; ++k) {
      const std::uint64_t seq = p.next_seq++;
      const std::uint64_t ts = now_ns();
      std::memcpy(p.payload.data(), &p.index, 4);
      std::memcpy(p.payload.data() + 4, &seq, 8);
      std::memcpy(p.payload.data() + 12, &ts, 8);
      std::uint16_t pid = 0;
      if (opt_.qos > 0) {
        pid = static_cast<std::uint16_t>(seq % 65535 + 1);
        p.pid_seq[pid] = seq;
        ++p.inflight;
      }
      append_publish(p.wbuf, p.topic, static_cast<std::uint8_t>(opt_.qos), pid, p.payload);
    }
    if (opt_.qos > 0) state_.inflight += allowed;
    const auto ec = co_await p.conn.write_all(p.wbuf);
    if (ec) {
      if (!state_.finished.load()) std::fprintf(stderr, "publisher %u: write: %s\n", p.index, ec.message().c_str());
      co_return;
    }
    p.sent += allowed;
  }
}

awaitable<void> pubsub_run::publisher_acks(publisher& p) {
  for (;;) {
    bool freed = false;
    auto ec = co_await p.conn.read_frames([&](protocol::frame&& f) {
      if (f.type() != static_cast<std::uint8_t>(protocol::packet_type::puback) || f.body.size() != 2) return;
      const auto pid = static_cast<std::uint16_t>(f.body.data()[0] << 8 | f.body.data()[1]);
      const std::uint64_t seq = p.pid_seq[pid];
      if (seq >= p.acked.size()) p.acked.resize(std::max<std::size_t>(seq + 1, p.acked.size() * 2));
      if (p.acked[seq] || p.inflight == 0) return;  // duplicate PUBACK
      p.acked[seq] = true;
      ++p.acked_count;
      --p.inflight;
      --state_.inflight;
      state_.expected_unique += p.fanout;
      freed = true;
    });
    if (ec) {
      if (!state_.finished.load()) std::fprintf(stderr, "publisher %u: read: %s\n", p.index, ec.message().c_str());
      co_return;
    }
    if (freed) p.wake.cancel();
  }
}

void pubsub_run::on_delivery(subscriber& s, const protocol::frame& f) {
  if (f.type() != static_cast<std::uint8_t>(protocol::packet_type::publish)) return;
  const std::uint64_t now = now_ns();
  auto decoded = protocol::decode(f);
  const auto* pkt = std::get_if<protocol::packet>(&decoded);
  const auto* pub = pkt ? std::get_if<protocol::publish>(pkt) : nullptr;
  if (pub == nullptr) return;
  if (pub->qos > 0) append_puback(s.pending_acks, pub->packet_id);
  if (pub->payload.size() < header_bytes) return;
  std::uint32_t from = 0;
  std::uint64_t seq = 0, ts = 0;
  std::memcpy(&from, pub->payload.data(), 4);
  std::memcpy(&seq, pub->payload.data() + 4, 8);
  std::memcpy(&ts, pub->payload.data() + 12, 8);
  ++s.delivered;
  const std::uint64_t end = state_.end_ns.load(std::memory_order_relaxed);
  if (end == 0 || now <= end) ++s.delivered_in_window;
  s.latency.add(now > ts ? now - ts : 0);
  if (opt_.qos > 0 && from < s.received.size()) {
    auto& bits = s.received[from];
    if (seq >= bits.size()) bits.resize(std::max<std::size_t>(seq + 1, bits.size() * 2));
    if (bits[seq]) {
      ++s.duplicates;
    } else {
      bits[seq] = true;
      ++state_.received_unique;
    }
  }
}

std::string subscriber_id(unsigned index) {
  return "bench-sub-" + std::to_string(::getpid()) + "-" + std::to_string(index);
}

awaitable<void> pubsub_run::run_subscriber(subscriber& s) {
  const std::string id = subscriber_id(s.index);
  connect_params params;
  params.client_id = id;
  params.clean_session = !opt_.persistent;
  auto outcome = co_await s.conn.connect(endpoint_, params);
  bool subscribed = false;
  if (outcome.connack_code == 0) subscribed = co_await s.conn.subscribe(s.filters, static_cast<std::uint8_t>(opt_.qos));
  if (!subscribed) {
    std::fprintf(stderr, "subscriber: connect/subscribe failed (%d %s)\n", outcome.connack_code, outcome.error.c_str());
    ++state_.failed;
    co_return;
  }
  s.received.resize(opt_.publishers);
  ++state_.ready;
  if (opt_.qos > 0) spawn(s, subscriber_writer(s), "subscriber writer");
  for (;;) {
    const std::uint64_t before = s.delivered;
    auto ec = co_await s.conn.read_frames([&](protocol::frame&& f) { on_delivery(s, f); });
    if (ec) {
      if (!state_.finished.load()) std::fprintf(stderr, "subscriber: read: %s\n", ec.message().c_str());
      co_return;
    }
    state_.delivered += s.delivered - before;
    if (!s.pending_acks.empty()) s.wake.cancel();
  }
}

awaitable<void> pubsub_run::subscriber_writer(subscriber& s) {
  while (!state_.finished.load()) {
    if (s.pending_acks.empty()) {
      s.wake.expires_at(std::chrono::steady_clock::time_point::max());
      co_await s.wake.async_wait(use_nothrow);
      continue;
    }
    std::swap(s.pending_acks, s.writing_acks);
    s.pending_acks.clear();
    const auto ec = co_await s.conn.write_all(s.writing_acks);
    if (ec) co_return;
  }
}

awaitable<void> pubsub_run::control() {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto sleep = [&t](auto d) -> awaitable<void> {
    t.expires_after(d);
    co_await t.async_wait(use_nothrow);
  };
  const unsigned total = opt_.publishers + opt_.subscribers;
  const auto setup_deadline = std::chrono::steady_clock::now() + 30s;
  while (state_.ready.load() + state_.failed.load() < total && std::chrono::steady_clock::now() < setup_deadline) {
    co_await sleep(5ms);
  }
  if (state_.ready.load() == total) {
    co_await sleep(100ms);  // let SUBSCRIBEs settle in the broker's routing table
    before_ = sample_process(common_.broker_pid);
    client_cpu_start_ = self_cpu_seconds();
    state_.start_ns = now_ns();
    state_.go = true;
    co_await sleep(std::chrono::nanoseconds(static_cast<std::int64_t>(opt_.duration_s * 1e9)));
    state_.stop = true;
    state_.end_ns = now_ns();
    after_ = sample_process(common_.broker_pid);
    client_cpu_window_ = self_cpu_seconds() - client_cpu_start_;
    // Drain: QoS 1 until every acked message reached its subscribers; QoS 0 until deliveries stop.
    const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(
                                    static_cast<std::int64_t>(opt_.drain_s * 1000));
    std::uint64_t last = state_.delivered.load();
    auto last_change = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < drain_deadline) {
      co_await sleep(20ms);
      if (opt_.qos > 0 && state_.inflight.load() == 0 &&
          state_.received_unique.load() >= state_.expected_unique.load()) {
        break;
      }
      const std::uint64_t d = state_.delivered.load();
      if (d != last) {
        last = d;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > (opt_.qos > 0 ? 1000ms : 500ms)) {
        break;
      }
    }
  } else {
    std::fprintf(stderr, "pubsub: only %u of %u clients ready\n", state_.ready.load(), total);
  }
  state_.stop = true;
  state_.finished = true;
  auto close = [](client_base& c) { asio::post(c.strand, [&c] { c.conn.close(); c.wake.cancel(); }); };
  for (auto& p : pubs_) close(*p);
  for (auto& s : subs_) close(*s);
}

int pubsub_run::run() {
  endpoint_ = make_endpoint(common_.host, common_.port);
  prefix_ = opt_.topic_prefix.empty() ? "bench/" + std::to_string(::getpid()) : opt_.topic_prefix;
  const unsigned topics = std::max(1u, opt_.topics);
  for (unsigned j = 0; j < opt_.subscribers; ++j) {
    auto s = std::make_unique<subscriber>(ioc_);
    s->index = j;
    if (opt_.subscribe_all) {
      s->filters = {prefix_ + "/#"};
    } else {
      s->filters = {prefix_ + "/t" + std::to_string(j % topics)};
    }
    subs_.push_back(std::move(s));
  }
  for (unsigned i = 0; i < opt_.publishers; ++i) {
    auto p = std::make_unique<publisher>(ioc_);
    p->index = i;
    p->topic = prefix_ + "/t" + std::to_string(i % topics);
    for (unsigned j = 0; j < opt_.subscribers; ++j) {
      if (opt_.subscribe_all || j % topics == i % topics) ++p->fanout;
    }
    p->payload.assign(std::max(opt_.payload_bytes, header_bytes), static_cast<std::uint8_t>('x'));
    pubs_.push_back(std::move(p));
  }
  for (auto& s : subs_) spawn(*s, run_subscriber(*s), "subscriber");
  // Publishers connect after the subscribers have been started; `go` waits for all of them anyway.
  for (auto& p : pubs_) spawn(*p, run_publisher(*p), "publisher");
  asio::co_spawn(ioc_, control(), [](std::exception_ptr e) { report_exception(e, "control"); });
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, common_.threads); ++t) threads.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : threads) t.join();
  print_report();
  if (opt_.persistent) discard_persistent_sessions();
  return state_.ready.load() == opt_.publishers + opt_.subscribers ? 0 : 1;
}

// A persistent session outlives the run (24 h in Portcullis, forever in Mosquitto): connect once
// more with CleanSession=1 under each subscriber id, which discards it [MQTT-3.1.2-6], so repeated
// runs do not accumulate sessions in the broker under test. Runs after the report: not measured.
awaitable<void> pubsub_run::discard_session(unsigned index) {
  mqtt_connection conn(co_await asio::this_coro::executor, nullptr, 4096);
  connect_params params;
  params.client_id = subscriber_id(index);
  auto outcome = co_await conn.connect(endpoint_, params);
  if (outcome.connack_code != 0) {
    std::fprintf(stderr, "subscriber %u: session discard failed (%d %s)\n", index, outcome.connack_code,
                 outcome.error.c_str());
    co_return;
  }
  std::vector<std::uint8_t> bye;
  append_disconnect(bye);
  co_await conn.write_all(bye);
  conn.close();
}

void pubsub_run::discard_persistent_sessions() {
  asio::io_context ioc;
  for (unsigned j = 0; j < opt_.subscribers; ++j) {
    asio::co_spawn(ioc, discard_session(j), [](std::exception_ptr e) { report_exception(e, "discard session"); });
  }
  ioc.run_for(std::chrono::seconds(30));
}

void pubsub_run::print_report() const {
  histogram latency;
  std::uint64_t sent = 0, acked = 0, delivered = 0, in_window = 0, dups = 0, expected = 0, unacked = 0;
  for (const auto& s : subs_) {
    latency.merge(s->latency);
    delivered += s->delivered;
    in_window += s->delivered_in_window;
    dups += s->duplicates;
  }
  std::uint64_t lost = 0, lost_deliveries = 0;
  const unsigned topics = std::max(1u, opt_.topics);
  for (const auto& p : pubs_) {
    sent += p->sent;
    acked += p->acked_count;
    unacked += p->inflight;
    expected += p->sent * p->fanout;
    if (opt_.qos == 0) continue;
    for (std::uint64_t seq = 0; seq < p->acked.size(); ++seq) {
      if (!p->acked[seq]) continue;
      bool missing = false;
      for (std::size_t j = 0; j < subs_.size(); ++j) {
        if (!opt_.subscribe_all && j % topics != p->index % topics) continue;
        const auto& bits = subs_[j]->received[p->index];
        if (seq >= bits.size() || !bits[seq]) {
          missing = true;
          ++lost_deliveries;
        }
      }
      if (missing) ++lost;
    }
  }
  const std::uint64_t start = state_.start_ns.load(), end = state_.end_ns.load();
  const double secs = end > start ? static_cast<double>(end - start) / 1e9 : 0;
  json_line j;
  j.add("mode", "pubsub").add("scenario", common_.label).add("broker", common_.broker);
  j.add("qos", opt_.qos).add("publishers", opt_.publishers).add("subscribers", opt_.subscribers);
  j.add("topics", topics).add("payload_bytes", static_cast<std::uint64_t>(std::max(opt_.payload_bytes, header_bytes)));
  j.add("persistent", opt_.persistent);
  j.add("rate_per_publisher", opt_.rate).add("window", opt_.window).add("duration_s", secs);
  j.add("ok", state_.ready.load() == opt_.publishers + opt_.subscribers);
  j.add("sent", sent).add("acked", acked).add("unacked", unacked);
  j.add("expected_deliveries", expected).add("delivered", delivered).add("delivered_in_window", in_window);
  j.add("duplicates", dups);
  if (opt_.qos > 0) {
    j.add("lost", lost).add("lost_deliveries", lost_deliveries);
  } else {
    j.add_raw("lost", "null");
  }
  j.add("msgs_in_per_s", secs > 0 ? static_cast<double>(sent) / secs : 0.0);
  j.add("msgs_out_per_s", secs > 0 ? static_cast<double>(in_window) / secs : 0.0);
  j.add_latency("lat", latency);
  j.add_broker(before_, after_);
  j.add("client_cpu_s", client_cpu_window_);
  if (before_.ok && after_.ok && in_window > 0) {
    j.add("broker_cpu_us_per_delivered", (after_.cpu_seconds - before_.cpu_seconds) * 1e6 / static_cast<double>(in_window));
  }
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
}

}  // namespace

int run_pubsub(const common_options& common, const pubsub_options& options) {
  if (options.qos > 1) {
    std::fprintf(stderr, "pubsub: --qos must be 0 or 1\n");
    return 2;
  }
  if (options.window == 0 || options.window > 65535) {
    std::fprintf(stderr, "pubsub: --window must be 1..65535\n");
    return 2;
  }
  raise_file_limit();
  pubsub_run r(common, options);
  return r.run();
}

}  // namespace portcullis::bench
