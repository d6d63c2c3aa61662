// spdlog setup for text and JSON lines. The JSON formatter escapes the message
// properly (spdlog's pattern formatter cannot), so log shippers get one valid
// object per line: {"ts":..., "level":..., "logger":..., "msg":...}.

#include "portcullis/broker/logging.hpp"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace portcullis::broker {
namespace {

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms % 1000));
    append(dest, "{\"ts\":\"");
    append(dest, ts);
    append(dest, "\",\"level\":\"");
    auto lv = spdlog::level::to_string_view(msg.level);
    dest.append(lv.data(), lv.data() + lv.size());
    append(dest, "\",\"logger\":\"");
    escape(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, "\",\"msg\":\"");
    escape(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    append(dest, "\"}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(); }

 private:
  static void append(spdlog::memory_buf_t& d, std::string_view s) { d.append(s.data(), s.data() + s.size()); }
  static void escape(spdlog::memory_buf_t& d, std::string_view s) {
    for (unsigned char c : s) {
      switch (c) {
        case '"': append(d, "\\\""); break;
        case '\\': append(d, "\\\\"); break;
        case '\n': append(d, "\\n"); break;
        case '\r': append(d, "\\r"); break;
        case '\t': append(d, "\\t"); break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            append(d, buf);
          } else {
            d.push_back(static_cast<char>(c));
          }
      }
    }
  }
};

std::mutex mutex;
spdlog::sink_ptr shared_sink;

spdlog::sink_ptr sink() {
  if (!shared_sink) {
    shared_sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    shared_sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v",
                                                                           spdlog::pattern_time_type::utc));
  }
  return shared_sink;
}

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
  std::lock_guard lock(mutex);
  auto s = sink();
  if (format == "json") {
    s->set_formatter(std::make_unique<json_formatter>());
  } else {
    s->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v",
                                                                 spdlog::pattern_time_type::utc));
  }
  spdlog::set_level(spdlog::level::from_str(level));
  for (const char* name : {"broker", "auth", "store", "admin"}) {
    auto l = spdlog::get(name);
    if (!l) {
      l = std::make_shared<spdlog::logger>(name, s);
      spdlog::register_logger(l);
    }
    l->set_level(spdlog::level::from_str(level));
    l->flush_on(spdlog::level::trace);  // line-buffered: operators and tests read the log live
  }
}

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
  auto l = spdlog::get(module);
  if (l) return l;
  std::lock_guard lock(mutex);
  l = spdlog::get(module);
  if (!l) {
    l = std::make_shared<spdlog::logger>(module, sink());
    l->flush_on(spdlog::level::trace);
    spdlog::register_logger(l);
  }
  return l;
}

}  // namespace portcullis::broker
