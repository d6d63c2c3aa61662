// MQTT 3.1.1 server-side connection logic: CONNECT handling and the documented
// deviations (SPEC §6), PUBLISH routing, SUBSCRIBE/UNSUBSCRIBE, QoS 1 acks,
// keep-alive, CONNECT timeout, rate limiting, and the coalescing writer.

#include "connection.hpp"
#include "wall_clock.hpp"

#include <algorithm>
#include <random>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "portcullis/auth/identity.hpp"
#include "portcullis/broker/logging.hpp"
#include "persistence.hpp"
#include "worker_pool.hpp"
#include "portcullis/protocol/topic.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string assigned_client_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "auto-";
  for (int i = 0; i < 24; ++i) id.push_back(hex[rng() & 15]);
  return id;
}

// One write per turn carries at most this much, so that a subscriber gets a
// fair share of its worker against publishers (each of which reads once per turn).
constexpr std::size_t max_publishes_per_write = 1024;
constexpr auto backpressure_limit = std::chrono::seconds(2);

// Authentication methods as reported by the admin API; a connection keeps the index.
constexpr const char* method_names[] = {"", "x5c-jwt", "mtls", "anonymous", "other"};

std::uint8_t method_index(const std::string& m) {
  for (std::uint8_t i = 1; i < 4; ++i) {
    if (m == method_names[i]) return i;
  }
  return 4;
}

const std::string no_string;

std::vector<std::unique_ptr<connection::write_state>>& write_state_pool() {
  thread_local std::vector<std::unique_ptr<connection::write_state>> pool;
  return pool;
}

}  // namespace

/// Publisher and pause state. Most connections never need it, or only for a
/// moment (a CONNECT pipelined with more packets), so it is not part of the
/// connection; while it is gone the rate bucket counts as full, which is what a
/// released bucket was (release_idle_state).
struct connection::flow_state {
  flow_state(const rate_config& rate, clock::time_point now) {
    if (rate.enabled) bucket = token_bucket(rate.messages, rate.per_seconds, rate.burst, now);
  }

  token_bucket bucket;
  std::vector<std::uint8_t> pending_in;          // bytes received while paused
  std::optional<protocol::frame> paused_frame;   // a PUBLISH waiting for a rate token
  clock::time_point throttle_until = clock::time_point::min();
  std::unique_ptr<asio::steady_timer> throttle_timer;
  clock::time_point backpressure_since{};

  // PUBACKs to this publisher, in PUBLISH order; some wait for a durable commit.
  struct pending_ack {
    std::uint64_t seq;
    std::uint16_t packet_id;
    bool ready;
  };
  ring_queue<pending_ack> pending_acks;
  std::uint64_t ack_seq = 0;
};

/// What an x5c or mTLS client authenticated with (anonymous clients have none).
struct connection::credentials {
  std::string ca_id;
  std::optional<std::int64_t> token_expires_at;
};

void connection::write_state_deleter::operator()(write_state* w) const noexcept {
  auto& pool = write_state_pool();
  // Keep a bounded pool of buffers that did not grow huge (a burst of large
  // messages should not pin memory forever).
  constexpr std::size_t max_pooled = 1024, max_kept_bytes = 256 * 1024;
  if (pool.size() < max_pooled && w->ctrl_pending.capacity() <= max_kept_bytes &&
      w->headers.capacity() <= max_kept_bytes) {
    // A closed connection may return unsent bytes or message references.
    w->ctrl_pending.clear();
    w->ctrl_inflight.clear();
    w->batch.clear();
    w->headers.clear();
    w->buffers.clear();
    pool.emplace_back(w);
  } else {
    delete w;
  }
}

connection::write_state& connection::writes() {
  if (!writes_) {
    auto& pool = write_state_pool();
    if (pool.empty()) {
      writes_.reset(new write_state);
    } else {
      writes_.reset(pool.back().release());
      pool.pop_back();
    }
  }
  return *writes_;
}

void connection::release_writes() {
  if (writes_ && !writing_ && writes_->idle()) writes_.reset();
}

connection::flow_state& connection::flow() {
  if (!flow_) {
    auto now = clock::now();
    flow_ = std::make_unique<flow_state>(cfg().limits.rate, now);
    // A client that reconnects carries on with the bucket its last connection left.
    if (cfg().limits.rate.enabled && session_) {
      if (auto b = ctx_.rates.recall(session_->tenant(), session_->client_id(), now)) flow_->bucket = *b;
    }
  }
  return *flow_;
}

void connection::release_idle_state(clock::time_point now) {
  if (partial_ && partial_->idle()) partial_.reset();
  if (flow_ && !paused_ && !backpressured_ && !flow_->paused_frame && flow_->pending_in.empty() &&
      flow_->pending_acks.empty() && (!cfg().limits.rate.enabled || flow_->bucket.is_full(now))) {
    flow_.reset();  // a fresh one is identical: full bucket, nothing pending
  }
}

connection::executor_type connection::executor() const noexcept { return worker_.executor(); }

const char* connection::method() const noexcept { return method_names[method_]; }

const std::string& connection::client_id() const noexcept {
  if (session_) return session_->client_id();
  return client_id_ ? *client_id_ : no_string;
}

const std::string& connection::tenant() const noexcept { return session_ ? session_->tenant() : no_string; }

const std::string& connection::ca_id() const noexcept { return credentials_ ? credentials_->ca_id : no_string; }

connection::connection(broker_context& ctx, const listener_config& listener, worker& w, std::string remote)
    : ctx_(ctx), worker_(w), listener_(listener), remote_(std::move(remote)) {
  ctx_.stats.connections_current.fetch_add(1, std::memory_order_relaxed);
  ctx_.stats.connections_total.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() { ctx_.stats.connections_current.fetch_sub(1, std::memory_order_relaxed); }

void connection::start() {
  last_packet_ = clock::now();  // the CONNECT timeout counts from here
  worker_.add(shared_from_this());
  transport_start();
}

void connection::on_transport_ready() {
  if (state_ == state::closed) return;
  state_ = state::awaiting_connect;
  transport_read();
}

void connection::wake() {
  asio::post(executor(), [self = shared_from_this()] { self->request_write(); });
}

void connection::kick(std::string reason) {
  asio::post(executor(), [self = shared_from_this(), reason = std::move(reason)] {
    if (self->state_ == state::closed) return;
    logger("broker")->info("closing client_id={} tenant={} remote={} reason={}", log_value(self->client_id()),
                           self->tenant(), self->remote_, log_value(reason));
    self->close("kicked");
  });
}

void connection::kick_if_ca(std::string ca_id, std::string reason) {
  asio::post(executor(), [self = shared_from_this(), ca_id = std::move(ca_id), reason = std::move(reason)] {
    if (self->state_ == state::closed || self->ca_id().empty() || self->ca_id() != ca_id) return;
    logger("broker")->info("closing client_id={} tenant={} remote={} reason={}", log_value(self->client_id()),
                           self->tenant(), self->remote_, log_value(reason));
    self->close("ca revoked");
  });
}

bool connection::on_bytes(std::span<const std::uint8_t> data) {
  if (state_ == state::closed) return false;
  bump(counters_.bytes_in, data.size());
  bump(ctx_.stats.traffic().bytes_in, data.size());
  return consume(data);
}

template <class F>
auto connection::batching_writes(F&& f) {
  if (batching_writes_) return f();
  batching_writes_ = true;
  struct flush {
    connection& c;
    ~flush() {
      c.batching_writes_ = false;
      if (c.write_deferred_) {
        c.write_deferred_ = false;
        c.request_write();  // no-op once closed; a refused CONNECT's CONNACK goes out here
      }
    }
  } at_end{*this};
  return f();
}

bool connection::consume(std::span<const std::uint8_t> data) {
  return batching_writes([&] { return consume_frames(data); });
}

bool connection::consume_frames(std::span<const std::uint8_t> data) {
  // Between packets a reader holds nothing, so it lives on the stack; only a
  // packet cut by the end of a read moves to the heap (partial_), where it stays
  // until the tick finds the connection between packets again.
  std::optional<protocol::frame_reader> local;
  protocol::frame_reader* reader = partial_.get();
  if (!reader) reader = &local.emplace(cfg().limits.max_packet_bytes);
  while (!data.empty()) {
    auto r = reader->feed(data);
    data = data.subspan(r.consumed);
    if (r.state == protocol::frame_reader::status::error) {
      if (r.error == protocol::decode_error::packet_too_large) {
        // DEVIATION(SPEC §6): decided from the fixed header, before buffering the body.
        ctx_.stats.packet_too_large.fetch_add(1, std::memory_order_relaxed);
      }
      protocol_error(protocol::name_of(r.error).data());
      return false;
    }
    if (r.state == protocol::frame_reader::status::need_more) break;
    protocol::frame f = reader->take();
    action a = handle_frame(f);
    if (a == action::close) return false;
    if (a == action::pause) {
      paused_ = true;
      if (!data.empty()) {
        auto& pending = flow().pending_in;
        pending.insert(pending.end(), data.begin(), data.end());
      }
      return false;
    }
  }
  if (local && !local->idle()) partial_ = std::make_unique<protocol::frame_reader>(std::move(*local));
  return true;
}

void connection::process_pending() {
  if (state_ == state::closed || !paused_ || awaiting_store_) return;
  paused_ = false;
  if (flow_ && flow_->paused_frame) {
    protocol::frame f = std::move(*flow_->paused_frame);
    flow_->paused_frame.reset();
    action a = handle_frame(f);
    if (a == action::close) return;
    if (a == action::pause) {
      paused_ = true;
      return;
    }
  }
  std::vector<std::uint8_t> bytes;
  if (flow_) bytes.swap(flow_->pending_in);
  if (!bytes.empty() && !consume(bytes)) return;  // paused again or closed
  // While paused no read was outstanding, so this is the only one.
  transport_resume();
}

void connection::on_read_error(const boost::system::error_code& ec) {
  // eof / reset / aborted are how clients normally go away: debug, not warn.
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
    close("peer closed");
  } else {
    logger("broker")->debug("read error client_id={} remote={} error={}", log_value(client_id()), remote_,
                            log_quoted(ec.message()));
    close("read error");
  }
}

connection::action connection::protocol_error(const char* what) {
  ctx_.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  logger("broker")->info("protocol error, closing client_id={} tenant={} remote={} listener={} reason={}",
                         log_value(client_id()), tenant(), remote_, listener_.name, log_value(what));
  close(what);
  return action::close;
}

connection::action connection::handle_frame(protocol::frame& f) {
  // Before CONNECT is accepted last_packet_ holds the accept time (CONNECT timeout).
  if (state_ == state::connected) last_packet_ = clock::now();
  bump(ctx_.stats.traffic().packets_in);
  auto decoded = protocol::decode(f);
  if (auto* err = std::get_if<protocol::decode_error>(&decoded)) return protocol_error(protocol::name_of(*err).data());
  auto& p = std::get<protocol::packet>(decoded);

  if (state_ == state::awaiting_connect) {
    if (auto* c = std::get_if<protocol::connect>(&p)) return handle_connect(*c);
    return protocol_error("mqtt.first_packet_not_connect");  // [MQTT-3.1.0-1]
  }
  if (state_ != state::connected) return protocol_error("mqtt.unexpected_packet");

  return std::visit(
      [&](auto& pkt) -> action {
        using T = std::decay_t<decltype(pkt)>;
        if constexpr (std::is_same_v<T, protocol::publish>) {
          return handle_publish(pkt, f);
        } else if constexpr (std::is_same_v<T, protocol::puback>) {
          if (message_ptr m = session_->acknowledge(pkt.packet_id)) {
            if (m->store_id && session_->persistent()) {
              if (auto* durable = ctx_.sessions.durable()) {
                durable->submit(store::remove_entry_op{session_->tenant(), session_->client_id(), m->store_id});
              }
            }
            request_write();  // a window slot opened
          }
          return action::proceed;
        } else if constexpr (std::is_same_v<T, protocol::subscribe>) {
          return handle_subscribe(pkt);
        } else if constexpr (std::is_same_v<T, protocol::unsubscribe>) {
          return handle_unsubscribe(pkt);
        } else if constexpr (std::is_same_v<T, protocol::pingreq>) {
          send(protocol::pingresp{});
          return action::proceed;
        } else if constexpr (std::is_same_v<T, protocol::disconnect>) {
          close("disconnect");  // no will to discard: wills are not supported
          return action::close;
        } else if constexpr (std::is_same_v<T, protocol::connect>) {
          return protocol_error("mqtt.second_connect");  // [MQTT-3.1.0-2]
        } else if constexpr (std::is_same_v<T, protocol::pubrec> || std::is_same_v<T, protocol::pubrel> ||
                             std::is_same_v<T, protocol::pubcomp>) {
          // DEVIATION(SPEC §6): no QoS 2, so its handshake packets are protocol errors.
          return protocol_error("mqtt.qos2_unsupported");
        } else {
          return protocol_error("mqtt.server_to_client_packet");
        }
      },
      p);
}

connection::action connection::handle_connect(protocol::connect& c) {
  const auto& a = cfg().auth;
  if (c.protocol_name != "MQTT" || c.protocol_level != 4) {
    refuse(0x01, "mqtt.protocol_version", "protocol " + c.protocol_name + " level " + std::to_string(c.protocol_level),
           "");  // [MQTT-3.1.2-2]
    return action::pause;
  }
  client_id_ = std::make_unique<std::string>(c.client_id);
  clean_session_ = c.clean_session;
  if (c.will) {
    if (!cfg().ignore_unsupported_features) {
      // DEVIATION(SPEC §6): Will is not supported; "reject" answers 0x05.
      refuse(0x05, "mqtt.will", "Will messages are not supported", "");
      return action::pause;
    }
    ctx_.stats.ignored[static_cast<std::size_t>(ignored_feature::will)].fetch_add(1, std::memory_order_relaxed);
    c.will.reset();
  }
  if (c.client_id.empty()) {
    if (c.clean_session && a.client_id_min_length == 0) {
      *client_id_ = assigned_client_id();  // [MQTT-3.1.3-6]
    } else {
      refuse(0x02, "client_id.length", "empty client id (CleanSession=" + std::to_string(c.clean_session) + ")", "");
      return action::pause;  // [MQTT-3.1.3-8]
    }
  } else if (std::size_t chars = auth::client_id_length(c.client_id);
             chars < a.client_id_min_length || chars > a.client_id_max_length) {
    refuse(0x02, "client_id.length",
           "client id has " + std::to_string(chars) + " characters, allowed " +
               std::to_string(a.client_id_min_length) + "-" + std::to_string(a.client_id_max_length),
           "");
    return action::pause;
  }
  keep_alive_ = c.keep_alive;

  state_ = state::authenticating;
  auth_request req;
  req.listener = listener_.name;
  req.methods = listener_.auth;
  req.client_id = *client_id_;
  req.username = std::move(c.username);
  req.password = std::move(c.password);
  req.peer_chain = transport_peer_chain();
  req.client_cert_required = listener_.tls && listener_.tls->client_certs == client_cert_mode::required;
  req.remote = remote_;
  ctx_.auth->authenticate(std::move(req), [self = shared_from_this()](auth_outcome o) {
    asio::post(self->executor(), [self, o = std::move(o)]() mutable { self->on_auth(std::move(o)); });
  });
  return action::pause;  // read nothing more until the CONNACK is decided
}

void connection::refuse(std::uint8_t code, std::string reason, std::string detail, const std::string& tenant) {
  logger("auth")->warn("connect refused listener={} remote={} client_id={} tenant={} reason={} detail={}",
                       listener_.name, remote_, log_value(client_id()), tenant, reason, log_quoted(detail));
  ctx_.stats.auth_failure(reason);
  ctx_.failures.add({0, epoch_millis(), listener_.name, client_id(), remote_, tenant, reason, std::move(detail), code});
  // Flags first: the write may complete (and close) before send() returns.
  state_ = state::authenticating;  // nothing else is read
  close_after_write_ = true;
  send(protocol::connack{false, static_cast<protocol::connack_code>(code)});
}

void connection::on_auth(auth_outcome o) {
  if (state_ != state::authenticating) return;  // closed meanwhile
  if (ctx_.stopping.load()) {
    refuse(0x03, "server.stopping", "broker is shutting down", o.tenant);
    return;
  }
  if (!o.accepted) {
    refuse(o.connack_code, std::move(o.reason), std::move(o.detail), o.tenant);
    return;
  }
  // Set before attaching: the admin API finds the connection through its session.
  method_ = method_index(o.method);
  if (!o.ca_id.empty() || o.expires_at) {
    credentials_ = std::make_unique<credentials>(credentials{std::move(o.ca_id), o.expires_at});
  }
  connected_since_ = epoch_seconds();
  auto attached = ctx_.sessions.attach(o.tenant, std::move(o.client_id), clean_session_, shared_from_this(), epoch_millis());
  session_ = std::move(attached.s);
  client_id_.reset();  // the session holds the id from now on
  if (attached.previous) attached.previous->kick("session taken over by a new connection");  // [MQTT-3.1.4-2]
  state_ = state::connected;
  ctx_.stats.connects_accepted.fetch_add(1, std::memory_order_relaxed);
  logger("broker")->debug("connected client_id={} tenant={} remote={} listener={} method={} clean={} present={}",
                          log_value(client_id()), tenant(), remote_, listener_.name, method(), bool{clean_session_},
                          attached.session_present);
  // The rate bucket starts full, as a new flow_state's does (created on the first PUBLISH).
  last_packet_ = clock::now();
  send(protocol::connack{attached.session_present, protocol::connack_code::accepted});
  paused_ = true;
  process_pending();
}

connection::action connection::handle_publish(protocol::publish& p, protocol::frame& f) {
  const auto& lim = cfg().limits;
  if (p.qos == 2) return protocol_error("mqtt.qos2_unsupported");  // DEVIATION(SPEC §6): QoS 2 closes
  if (p.retain) {
    // DEVIATION(SPEC §6): retain is not supported.
    if (!cfg().ignore_unsupported_features) return protocol_error("mqtt.retain_unsupported");
    ctx_.stats.ignored[static_cast<std::size_t>(ignored_feature::retain)].fetch_add(1, std::memory_order_relaxed);
    p.retain = false;
  }
  // DEVIATION(SPEC §6): topic character set, no '$' topics.
  if (!protocol::is_valid_topic_name(p.topic)) return protocol_error("mqtt.invalid_topic");
  if (lim.rate.enabled) {
    auto now = clock::now();
    flow_state& fl = flow();
    if (!fl.bucket.try_take(now)) {
      if (lim.rate.disconnect) {
        ctx_.stats.rate_limit_disconnected.fetch_add(1, std::memory_order_relaxed);
        logger("broker")->info("rate limit exceeded, closing client_id={} tenant={} remote={}", log_value(client_id()), tenant(),
                               remote_);
        close("rate limit");
        return action::close;
      }
      // DEVIATION(SPEC §6): throttle = stop reading until a token is due; the
      // packet is kept and handled then, so nothing is lost.
      ctx_.stats.rate_limit_throttled.fetch_add(1, std::memory_order_relaxed);
      fl.throttle_until = now + fl.bucket.time_until_token(now);
      fl.paused_frame = std::move(f);
      arm_throttle_timer();
      return action::pause;
    }
  }
  bump(counters_.messages_in);
  bump(ctx_.stats.traffic().messages_in);

  auto m = std::make_shared<message>();
  m->topic = p.topic;
  m->payload = p.payload;
  m->frame = std::move(p.frame);
  m->framed = m->topic.data() == reinterpret_cast<const char*>(m->frame.data()) + 2;
  m->qos = p.qos;
  const std::int64_t now_ms = epoch_millis();
  m->created_at = now_ms / 1000;
  m->expires_at_ms = now_ms + lim.message_expiry_seconds * 1000;
  message_ptr msg = m;
  auto limits = ctx_.limits();
  persistence* durable = ctx_.sessions.durable();
  std::optional<std::uint64_t> durable_seq;
  auto persist = [&](const std::vector<route_target>& targets) {
    // Durable sessions (SPEC §6): a QoS 1 message for persistent subscribers is
    // submitted for storage before anyone can receive (and acknowledge) it; the
    // PUBACK to the publisher waits until it is durable in, or acknowledged by,
    // every one of them (persistence.hpp).
    if (!durable || m->qos == 0) return;
    store::enqueue_op op;
    bool offline_target = false;  // its PUBACK cannot come soon: commit without lingering
    for (const auto& t : targets) {
      if (t.qos >= 1 && t.target->persistent()) {
        op.client_ids.push_back(t.target->client_id());
        offline_target = offline_target || !t.target->connected();
      }
    }
    if (op.client_ids.empty()) return;
    m->store_id = durable->next_message_id();
    op.id = m->store_id;
    op.tenant = tenant();
    op.topic.assign(m->topic);
    op.payload.assign(m->payload.begin(), m->payload.end());
    op.qos = 1;
    op.created_at = m->created_at;
    op.expires_at = (m->expires_at_ms + 999) / 1000;  // the store keeps whole seconds: never early
    durable_seq = ++flow().ack_seq;
    durable->submit(
        std::move(op),
        [self = shared_from_this(), seq = *durable_seq](bool ok) {
          asio::post(self->executor(), [self, seq, ok] { self->on_durable(seq, ok); });
        },
        offline_target);
  };
  thread_local std::vector<route_target> route_scratch;
  bool congested = false;
  ctx_.routes.route(
      tenant(), msg->topic, route_scratch,
      [&](session& s, std::uint8_t qos) {
        // Registered with congested subscriber queues (QoS 1 always; QoS 0 while they keep up).
        delivery d = s.deliver(msg, qos, limits, this);
        congested = congested || d.congested;
        if (d.dropped && d.dropped->store_id && durable && s.persistent()) {
          durable->submit(store::remove_entry_op{s.tenant(), s.client_id(), d.dropped->store_id});
        }
      },
      persist);
  if (p.qos == 1) {
    // PUBACKs leave in the order the PUBLISHes came [MQTT-4.6.0-2], so one that is
    // ready waits behind an earlier one still waiting for its commit.
    if (durable_seq) {
      flow_->pending_acks.push_back({*durable_seq, p.packet_id, false});
    } else if (!flow_ || flow_->pending_acks.empty()) {
      send(protocol::puback{p.packet_id});
    } else {
      flow_->pending_acks.push_back({++flow_->ack_seq, p.packet_id, true});
    }
  }
  if (congested) {
    // Backpressure: read nothing more from this publisher until a subscriber
    // queue it filled drains (drained()), or at most backpressure_limit.
    backpressured_ = true;
    flow().backpressure_since = clock::now();
    ctx_.stats.backpressure_pauses.fetch_add(1, std::memory_order_relaxed);
    return action::pause;
  }
  return action::proceed;
}

void connection::drained() {
  asio::post(executor(), [self = shared_from_this()] { self->resume_from_backpressure(); });
}

void connection::resume_from_backpressure() {
  if (!backpressured_ || state_ != state::connected) return;
  backpressured_ = false;
  last_packet_ = clock::now();  // the client was waiting on us, not idle
  process_pending();
}

void connection::on_durable(std::uint64_t seq, bool ok) {
  if (state_ == state::closed) return;
  if (!ok) {
    // Not durable: do not acknowledge; the client will resend after reconnecting.
    close("store commit failed");
    return;
  }
  // Every durable seq has its entry until acknowledged, so flow_ exists here.
  if (!flow_) return;
  auto& acks = flow_->pending_acks;
  for (std::size_t i = 0; i < acks.size(); ++i) {
    if (acks[i].seq == seq) {
      acks[i].ready = true;
      break;
    }
  }
  batching_writes([&] {
    while (!acks.empty() && acks.front().ready) {
      send(protocol::puback{acks.front().packet_id});
      acks.pop_front();
    }
  });
}

connection::action connection::handle_subscribe(const protocol::subscribe& s) {
  protocol::suback ack;
  ack.packet_id = s.packet_id;
  for (const auto& sub : s.subscriptions) {
    if (!protocol::is_valid_topic_filter(sub.filter)) {
      ack.return_codes.push_back(protocol::suback_failure);  // SPEC §6: invalid filter gets 0x80
      continue;
    }
    // DEVIATION(SPEC §6): QoS 2 is granted as QoS 1.
    std::uint8_t granted = std::min<std::uint8_t>(sub.qos, 1);
    if (!ctx_.sessions.subscribe(session_, sub.filter, granted)) {
      ack.return_codes.push_back(protocol::suback_failure);
      continue;
    }
    ack.return_codes.push_back(granted);
  }
  return ack_when_durable(std::move(ack));
}

connection::action connection::handle_unsubscribe(const protocol::unsubscribe& u) {
  for (const auto& f : u.filters) ctx_.sessions.unsubscribe(session_, f);
  return ack_when_durable(protocol::unsuback{u.packet_id});
}

connection::action connection::ack_when_durable(protocol::packet ack) {
  persistence* durable = ctx_.sessions.durable();
  if (durable == nullptr || !session_ || !session_->persistent()) {
    send(ack);
    return action::proceed;
  }
  // SPEC §6: a persistent session survives a crash. A SUBACK the client has seen promises
  // the subscription, so it goes out only once the subscription is committed (one commit,
  // without the linger: ~1 ms); reading waits meanwhile, keeping answers in order.
  awaiting_store_ = true;
  durable->barrier([self = shared_from_this(), ack = std::move(ack)](bool ok) mutable {
    asio::post(self->executor(), [self, ack = std::move(ack), ok]() mutable {
      if (self->state_ == state::closed) return;
      self->awaiting_store_ = false;
      if (!ok) {
        self->close("store commit failed");  // not acknowledged: the client subscribes again
        return;
      }
      self->batching_writes([&] { self->send(ack); });
      self->process_pending();
    });
  });
  return action::pause;
}

void connection::send(const protocol::packet& p) {
  protocol::encode(p, writes().ctrl_pending);
  bump(ctx_.stats.traffic().packets_out);
  request_write();
}

void connection::request_write() {
  if (batching_writes_) {
    write_deferred_ = true;  // batching_writes() writes once the batch is handled
    return;
  }
  if (writing_ || state_ == state::closed || state_ == state::handshake) return;
  start_write();
}

void connection::start_write() {
  // Synchronous completions loop here instead of recursing; after a few batches
  // the rest waits for the next turn so other connections on this worker run.
  for (int round = 0; round < 4; ++round) {
    if (!prepare_write()) return;
    writing_ = true;
    bump(ctx_.stats.traffic().writes);
    if (!transport_write(*writes_)) return;  // completes in on_written
    writing_ = false;
    finish_batch(writes_->sent_total);
    if (state_ == state::closed) return;
  }
  // More may be queued: come back after the other handlers of this worker.
  asio::post(executor(), [self = shared_from_this()] { self->request_write(); });
}

/// Gathers pending control packets and up to max_publishes_per_write messages
/// into the write state's buffer list. False when there is nothing to send.
bool connection::prepare_write() {
  write_state& w = writes();
  w.ctrl_inflight.swap(w.ctrl_pending);
  if (state_ == state::connected && session_) {
    session_->collect(w.batch, max_publishes_per_write, ctx_.limits(), epoch_millis());
  }
  if (w.ctrl_inflight.empty() && w.batch.empty()) {
    release_writes();
    if (close_after_write_) close("connect refused");
    return false;
  }
  w.buffers.clear();
  w.headers.clear();
  w.sent_index = w.sent_offset = w.sent_total = 0;
  // Reserve first: the buffers below point into w.headers, which must not move.
  w.headers.reserve(w.batch.size() * 9);
  if (!w.ctrl_inflight.empty()) w.buffers.emplace_back(w.ctrl_inflight.data(), w.ctrl_inflight.size());
  for (const auto& o : w.batch) {
    const message& m = *o.msg;
    std::size_t remaining = 2 + m.topic.size() + (o.qos ? 2 : 0) + m.payload.size();
    std::size_t at = w.headers.size();
    w.headers.resize(at + 7);
    std::size_t n = protocol::encode_publish_fixed_header(o.dup, o.qos, false, remaining, w.headers.data() + at);
    if (o.qos == 0 && m.contiguous()) {
      // A QoS 0 frame goes out as received: [fixed header][topic length, topic, payload].
      w.headers.resize(at + n);
      w.buffers.emplace_back(w.headers.data() + at, n);
      w.buffers.emplace_back(m.wire_topic().data(), m.wire_topic().size() + m.payload.size());
      continue;
    }
    if (m.framed) {
      w.headers.resize(at + n);
      w.buffers.emplace_back(w.headers.data() + at, n);
      w.buffers.emplace_back(m.wire_topic().data(), m.wire_topic().size());
    } else {
      w.headers[at + n] = static_cast<std::uint8_t>(m.topic.size() >> 8);
      w.headers[at + n + 1] = static_cast<std::uint8_t>(m.topic.size() & 0xFF);
      w.headers.resize(at + n + 2);
      w.buffers.emplace_back(w.headers.data() + at, n + 2);
      w.buffers.emplace_back(m.topic.data(), m.topic.size());
    }
    if (o.qos) {
      std::size_t p = w.headers.size();
      w.headers.push_back(static_cast<std::uint8_t>(o.packet_id >> 8));
      w.headers.push_back(static_cast<std::uint8_t>(o.packet_id & 0xFF));
      w.buffers.emplace_back(w.headers.data() + p, 2);
    }
    if (!m.payload.empty()) w.buffers.emplace_back(m.payload.data(), m.payload.size());
  }
  std::size_t published = w.batch.size();
  bump(counters_.messages_out, published);
  auto& traffic = ctx_.stats.traffic();
  bump(traffic.messages_out, published);
  bump(traffic.packets_out, published);
  return true;
}

void connection::finish_batch(std::size_t n) {
  if (writes_) {
    writes_->batch.clear();  // releases this subscriber's references to the messages
    writes_->ctrl_inflight.clear();
  }
  bump(counters_.bytes_out, n);
  bump(ctx_.stats.traffic().bytes_out, n);
}

void connection::on_written(const boost::system::error_code& ec, std::size_t n) {
  writing_ = false;
  if (ec) {
    if (writes_) {
      writes_->batch.clear();
      writes_->ctrl_inflight.clear();
    }
    close("write error");
    return;
  }
  finish_batch(n);
  if (state_ == state::closed) return;
  start_write();
}

void connection::close(const char* reason) {
  if (state_ == state::closed) return;
  if (batching_writes_ && write_deferred_) {
    // Closed by a packet of the read being handled (DISCONNECT, a protocol error): what
    // the packets before it answered (PUBACKs) still goes out first, as when each was
    // written at once. Best effort, as any write before a close.
    batching_writes_ = false;
    write_deferred_ = false;
    request_write();
    batching_writes_ = true;  // batching_writes() is still on the stack; it clears the flag
    if (state_ == state::closed) return;  // that write closed it
  }
  bool was_connected = state_ == state::connected;
  state_ = state::closed;
  if (flow_ && flow_->throttle_timer) flow_->throttle_timer->cancel();
  if (flow_ && session_ && cfg().limits.rate.enabled) {
    ctx_.rates.remember(session_->tenant(), session_->client_id(), flow_->bucket, clock::now());
  }
  transport_close();
  // session_ stays set (detached) so that later log lines still name the client.
  if (session_) ctx_.sessions.release(session_, this, epoch_millis());
  if (!writing_) writes_.reset();
  if (was_connected) {
    logger("broker")->debug("disconnected client_id={} tenant={} remote={} reason={}", log_value(client_id()), tenant(),
                            remote_, log_value(reason));
    // A device with an agent (its chain validated against a tenant CA) was last seen now.
    if (credentials_ && !credentials_->ca_id.empty() && session_ && ctx_.auth) {
      ctx_.auth->seen(session_->tenant(), session_->client_id(), epoch_seconds());
    }
  }
  // Last: leaving the worker's list may drop the last reference but one (every
  // caller holds its own shared_ptr while it runs).
  worker_.remove(*this);
}

void connection::arm_throttle_timer() {
  flow_state& fl = flow();
  if (!fl.throttle_timer) fl.throttle_timer = std::make_unique<asio::steady_timer>(executor());
  fl.throttle_timer->expires_at(fl.throttle_until);
  fl.throttle_timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->state_ == state::closed || !self->flow_ || !self->flow_->paused_frame) return;
    // Throttling is not held against keep-alive: the client was waiting on us.
    self->last_packet_ = clock::now();
    self->process_pending();
  });
}

void connection::on_tick(clock::time_point now) {
  if (state_ == state::closed) return;
  transport_tick();
  if (state_ == state::closed) return;
  const auto& lim = cfg().limits;
  if (state_ != state::connected) {
    if (now >= last_packet_ + std::chrono::seconds(lim.connect_timeout_seconds)) {
      ctx_.stats.connect_timeouts.fetch_add(1, std::memory_order_relaxed);
      logger("broker")->info("no CONNECT in time, closing remote={} listener={} timeout_s={}", remote_,
                             listener_.name, lim.connect_timeout_seconds);
      close("connect timeout");
    }
    return;
  }
  if (credentials_ && credentials_->token_expires_at && cfg().auth.x5c_jwt.disconnect_on_expiry &&
      epoch_seconds() >= *credentials_->token_expires_at) {
    ctx_.stats.token_expiry_disconnects.fetch_add(1, std::memory_order_relaxed);
    logger("auth")->info("token expired, closing client_id={} tenant={} remote={}", log_value(client_id()), tenant(),
                        remote_);
    close("token expired");
    return;
  }
  release_idle_state(now);
  if (flow_ && flow_->paused_frame) {
    last_packet_ = now;  // throttled: the client is waiting on us, not idle
    return;
  }
  if (backpressured_) {
    last_packet_ = now;
    if (now - flow().backpressure_since >= backpressure_limit) {
      // Never wait forever: two clients congesting each other's queues would
      // deadlock. After the limit, the bounded queues' drop policy applies.
      ctx_.stats.backpressure_timeouts.fetch_add(1, std::memory_order_relaxed);
      resume_from_backpressure();
    }
    return;
  }
  // 1.5 x the client's keep-alive [MQTT-3.1.2-24].
  if (keep_alive_ != 0 && now >= last_packet_ + std::chrono::milliseconds(keep_alive_ * 1500)) {
    ctx_.stats.keepalive_timeouts.fetch_add(1, std::memory_order_relaxed);
    logger("broker")->info("keep-alive expired, closing client_id={} tenant={} remote={}", log_value(client_id()), tenant(),
                           remote_);
    close("keep-alive timeout");
  }
}

}  // namespace portcullis::broker
