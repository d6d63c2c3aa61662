// Interoperability with the Eclipse Paho C++ client (libpaho-mqttpp3), against the real
// daemon ($PORTCULLIS_BIN) started here on loopback port 0: QoS 0/1 round trips, the
// QoS 2 deviation (SUBSCRIBE granted QoS 1), overlapping subscriptions delivered once,
// and a persistent session whose queued QoS 1 messages survive a daemon restart.
// The Python suites cover the same ground with paho-mqtt; this proves a second,
// independent client implementation agrees with the broker.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <mqtt/async_client.h>

extern char** environ;

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// The daemon under test: `portcullis serve` with its own data directory. The
/// directory (and so the SQLite file) outlives restart(), which is the point.
class daemon_process {
 public:
  daemon_process() {
    const char* bin = std::getenv("PORTCULLIS_BIN");
    if (bin == nullptr) throw std::runtime_error("PORTCULLIS_BIN is not set");
    bin_ = bin;
    static int n = 0;
    dir_ = fs::temp_directory_path() / ("pc-paho-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::create_directories(dir_ / "var");
    std::ofstream(dir_ / "portcullis.json") << R"({
      "listeners": [{"name": "mqtt", "bind": "127.0.0.1:0", "protocol": "mqtt", "auth": ["anonymous"]}],
      "limits": {"rate": {"enabled": false}},
      "auth": {"client_id": {"min_length": 0}}
    })";
    start();
  }
  ~daemon_process() {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  /// SIGTERM (graceful), wait, start again on a new port with the same data.
  void restart() {
    REQUIRE(stop() == 0);
    start();
  }

  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  void start() {
    fs::remove(dir_ / "var" / "ports.json");
    const std::string config = (dir_ / "portcullis.json").string(), data = (dir_ / "var").string(),
                      log = (dir_ / "broker.log").string();
    std::vector<std::string> args{bin_, "serve", "--config", config, "--data-dir", data, "--log-level", "warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, bin_.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn failed");
    // ports.json is written (atomically) once the listeners are bound.
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(dir_ / "var" / "ports.json");
      std::stringstream text;
      text << in.rdbuf();
      const auto s = text.str();
      if (auto at = s.find("\"mqtt\""); at != std::string::npos) {
        port_ = std::stoi(s.substr(s.find(':', at) + 1));
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("the daemon did not write ports.json; see " + log);
  }

  int stop() {
    if (pid_ <= 0) return 0;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string bin_;
  fs::path dir_;
  pid_t pid_ = 0;
  int port_ = 0;
};

/// A Paho async client without client-side persistence, consuming into its queue.
struct paho {
  paho(const std::string& uri, const std::string& id) : client(uri, id, mqtt::create_options(MQTTVERSION_3_1_1)) {
    client.start_consuming();
  }
  ~paho() {
    try {
      if (client.is_connected()) client.disconnect()->wait_for(5s);
    } catch (const mqtt::exception&) {
      // already gone: nothing to clean up
    }
  }
  /// Connects; returns the CONNACK's session-present flag.
  bool connect(bool clean_session) {
    auto opts = mqtt::connect_options_builder().clean_session(clean_session).keep_alive_interval(30s).finalize();
    auto tok = client.connect(opts);
    REQUIRE(tok->wait_for(10s));
    return tok->get_connect_response().is_session_present();
  }
  /// Subscribes and returns the granted QoS per filter.
  std::vector<int> subscribe(const std::vector<std::pair<std::string, int>>& filters) {
    auto topics = std::make_shared<mqtt::string_collection>();
    std::vector<int> qos;
    for (const auto& [f, q] : filters) {
      topics->push_back(f);
      qos.push_back(q);
    }
    auto tok = client.subscribe(topics, qos);
    REQUIRE(tok->wait_for(10s));
    std::vector<int> granted;
    const auto response = tok->get_subscribe_response();  // by value: keep it alive while iterating
    for (auto code : response.get_reason_codes()) granted.push_back(static_cast<int>(code));
    return granted;
  }
  /// Publishes and waits for completion (PUBACK for QoS 1).
  void publish(const std::string& topic, const std::string& payload, int qos) {
    auto tok = client.publish(mqtt::make_message(topic, payload, qos, false));
    REQUIRE(tok->wait_for(10s));
  }
  /// Payloads received within `wait`, stopping early once `count` arrived.
  std::vector<std::string> receive(std::size_t count, std::chrono::milliseconds wait) {
    std::vector<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (got.size() < count) {
      mqtt::const_message_ptr m;
      if (!client.try_consume_message_until(&m, deadline)) break;
      if (m) got.push_back(m->to_string());
    }
    return got;
  }
  mqtt::async_client client;
};

}  // namespace

TEST_CASE("Paho C++: QoS 0 and QoS 1 round trip, QoS 2 granted as 1", "[paho][interop]") {
  daemon_process broker;
  paho sub(broker.uri(), "paho-cpp-sub");
  paho pub(broker.uri(), "paho-cpp-pub");
  CHECK_FALSE(sub.connect(true));
  pub.connect(true);
  const auto granted = sub.subscribe({{"plant/line1/temp", 0}, {"plant/line1/pressure", 1}, {"plant/line2/#", 2}});
  CHECK(granted == std::vector<int>{0, 1, 1});  // SPEC §6: QoS 2 is granted QoS 1

  pub.publish("plant/line1/temp", "21.5", 0);
  pub.publish("plant/line1/pressure", "1013", 1);  // returns after the PUBACK
  pub.publish("plant/line2/valve/7", "open", 1);
  auto got = sub.receive(3, 5000ms);
  CHECK(std::multiset<std::string>(got.begin(), got.end()) == std::multiset<std::string>{"21.5", "1013", "open"});
}

TEST_CASE("Paho C++: overlapping subscriptions deliver a message once", "[paho][interop]") {
  daemon_process broker;
  paho sub(broker.uri(), "paho-cpp-overlap");
  paho pub(broker.uri(), "paho-cpp-overlap-pub");
  sub.connect(true);
  pub.connect(true);
  sub.subscribe({{"a/#", 1}, {"a/+/c", 1}, {"a/b/c", 0}});
  pub.publish("a/b/c", "once", 1);
  pub.publish("a/x", "marker", 1);
  auto got = sub.receive(3, 1500ms);  // wait long enough for a duplicate to show up
  CHECK(got == std::vector<std::string>{"once", "marker"});
}

TEST_CASE("Paho C++: a persistent session and its queued QoS 1 messages survive a restart", "[paho][interop][durable]") {
  daemon_process broker;
  {
    paho sub(broker.uri(), "paho-cpp-durable");
    CHECK_FALSE(sub.connect(false));
    CHECK(sub.subscribe({{"fleet/+/alarm", 1}}) == std::vector<int>{1});
  }  // disconnects: the session stays, offline
  {
    paho pub(broker.uri(), "paho-cpp-durable-pub");
    pub.connect(true);
    for (int i = 0; i < 20; ++i) pub.publish("fleet/d" + std::to_string(i) + "/alarm", "alarm-" + std::to_string(i), 1);
  }
  broker.restart();  // every publish above was PUBACKed, so each must be in the store
  paho sub(broker.uri(), "paho-cpp-durable");
  CHECK(sub.connect(false));  // session present [MQTT-3.2.2-2]
  auto got = sub.receive(20, 10000ms);
  std::set<std::string> unique(got.begin(), got.end());
  REQUIRE(unique.size() == 20);
  // And the session still routes new messages after the restart.
  paho pub(broker.uri(), "paho-cpp-durable-pub2");
  pub.connect(true);
  pub.publish("fleet/late/alarm", "after-restart", 1);
  CHECK(sub.receive(1, 5000ms) == std::vector<std::string>{"after-restart"});
}
