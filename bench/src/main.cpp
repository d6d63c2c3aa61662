// portcullis-bench: an MQTT 3.1.1 load generator that speaks the protocol through Portcullis'
// own codec (no client library), for side-by-side runs against any MQTT broker.
//   pubsub   throughput, latency and QoS 1 loss for P publishers -> T topics -> S subscribers
//   connect  connect storms (anonymous, password, x5c JWT, mTLS): CONNACK codes, connects/s
//   idle     N held connections (and the broker's memory per connection)
//   mint     N device certificates and x5c JWTs for the connect storms
// Every mode prints one JSON line on stdout; see bench/README.md.

#include <cstdio>

#include <CLI/CLI.hpp>

#include "modes.hpp"

namespace {

void add_common(CLI::App* app, portcullis::bench::common_options& c) {
  app->add_option("--host", c.host, "Broker address (numeric)");
  app->add_option("--port", c.port, "Broker port")->required();
  app->add_option("--threads", c.threads, "Threads running the io_context (1-2)");
  app->add_option("--broker-pid", c.broker_pid, "Broker PID to sample CPU time and VmRSS from /proc");
  app->add_option("--label", c.label, "Scenario name echoed into the JSON line");
  app->add_option("--broker", c.broker, "Broker name echoed into the JSON line");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace portcullis::bench;
  CLI::App app{"portcullis-bench: MQTT load generator"};
  app.require_subcommand(1);

  common_options common;
  pubsub_options ps;
  auto* pubsub = app.add_subcommand("pubsub", "Publish/subscribe throughput, latency and QoS 1 loss");
  add_common(pubsub, common);
  pubsub->add_option("--publishers,-P", ps.publishers, "Publisher connections");
  pubsub->add_option("--subscribers,-S", ps.subscribers, "Subscriber connections");
  pubsub->add_option("--topics,-T", ps.topics, "Topics (publisher i -> topic i % T, subscriber j -> topic j % T)");
  pubsub->add_flag("--subscribe-all", ps.subscribe_all, "Subscribers subscribe to <prefix>/# (fan-in)");
  pubsub->add_option("--qos", ps.qos, "0 or 1");
  pubsub->add_option("--payload", ps.payload_bytes, "Payload bytes (at least 20: publisher, sequence, timestamp)");
  pubsub->add_option("--duration", ps.duration_s, "Seconds of publishing");
  pubsub->add_option("--rate", ps.rate, "Messages/s per publisher (0 = saturate)");
  pubsub->add_option("--window", ps.window, "QoS 1 in-flight window per publisher");
  pubsub->add_option("--batch", ps.batch, "QoS 0 messages per write when saturating");
  pubsub->add_option("--drain", ps.drain_s, "Max seconds to wait for outstanding deliveries");
  pubsub->add_option("--topic-prefix", ps.topic_prefix, "First topic levels (default bench/<pid>)");
  pubsub->add_flag("--persistent", ps.persistent,
                   "Subscribers use CleanSession=0 (persistent sessions); their sessions are removed after the run");

  connect_options co;
  auto* conn = app.add_subcommand("connect", "Connect storm: N connects at concurrency C");
  add_common(conn, common);
  conn->add_option("--count,-n", co.count, "Connects");
  conn->add_option("--concurrency,-c", co.concurrency, "Connects in flight");
  conn->add_option("--credentials", co.credentials_file, "File of 'username password' lines");
  conn->add_option("--tokens", co.tokens_file, "File of 'clientid token' lines (x5c JWT)");
  conn->add_option("--jwt-username", co.jwt_username, "CONNECT username with --tokens");
  conn->add_option("--cert-dir", co.cert_dir, "Directory of <cn>.crt/<cn>.key client certificates (TLS)");
  conn->add_flag("--tls", co.tls, "TLS without a client certificate");
  conn->add_option("--client-prefix", co.client_prefix, "Client id prefix for anonymous connects");
  conn->add_option("--timeout", co.timeout_s, "Seconds before one connect counts as failed");

  idle_options io;
  auto* idle = app.add_subcommand("idle", "Hold N idle connections");
  add_common(idle, common);
  idle->add_option("--count,-n", io.count, "Connections");
  idle->add_option("--concurrency,-c", io.concurrency, "Connects in flight while opening");
  idle->add_option("--hold", io.hold_s, "Seconds to hold them");
  idle->add_option("--keep-alive", io.keep_alive, "CONNECT keep-alive (0 = off; must exceed --hold)");
  idle->add_option("--client-prefix", io.client_prefix, "Client id prefix");
  idle->add_option("--cert-dir", io.cert_dir, "Directory of <cn>.crt/<cn>.key client certificates (mTLS)");

  mint_options mo;
  auto* mint = app.add_subcommand("mint", "Generate device certificates and x5c JWTs");
  mint->add_option("--ca-cert", mo.ca_cert, "Tenant CA certificate (PEM)")->required();
  mint->add_option("--ca-key", mo.ca_key, "Tenant CA private key (PEM)")->required();
  mint->add_option("--count,-n", mo.count, "Devices");
  mint->add_option("--prefix", mo.prefix, "Client id / CN prefix (ids are <prefix><nnnnnn>)");
  mint->add_option("--tokens-out", mo.tokens_out, "Write 'clientid token' lines here");
  mint->add_option("--cert-dir", mo.cert_dir, "Write <cn>.crt/<cn>.key here");
  mint->add_flag("--client-auth", mo.client_auth, "extendedKeyUsage clientAuth (mTLS)");
  mint->add_option("--tenant", mo.tenant, "ten claim");
  mint->add_option("--lifetime", mo.lifetime_s, "Token lifetime in seconds");
  mint->add_option("--threads", mo.threads, "Signing threads");

  CLI11_PARSE(app, argc, argv);
  if (pubsub->parsed()) return run_pubsub(common, ps);
  if (conn->parsed()) return run_connect(common, co);
  if (idle->parsed()) return run_idle(common, io);
  if (mint->parsed()) return run_mint(mo);
  return 2;
}
