// spdlog setup for text and JSON lines. The JSON formatter escapes the message
// properly (spdlog's pattern formatter cannot), so log shippers get one valid
// object per line: {"ts":..., "level":..., "logger":..., "msg":...}, and a line of the event
// form (`connect refused listener=x5c ... reason=jwt.exp detail="..."`) also gets an "event"
// field and one string field per pair, so a shipper can filter on "reason". The text formatter
// escapes control characters, so a client id or any other text from the network can never
// start a line of its own. Under journald (stdout is the stream JOURNAL_STREAM names) each
// line starts with its syslog priority, "<4>" for a warning, which journald reads and strips.

#include "portcullis/broker/logging.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace portcullis::broker {
namespace {

void append(spdlog::memory_buf_t& d, std::string_view s) { d.append(s.data(), s.data() + s.size()); }

/// Length of the well-formed UTF-8 sequence (RFC 3629) starting `s`, or 0 when there is none.
std::size_t utf8_sequence_length(std::string_view s) {
  auto at = [&](std::size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
  unsigned c = at(0);
  auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) { return at(i) >= lo && at(i) <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no UTF-16 surrogates
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/// True when stdout is the journal's stream (systemd sets JOURNAL_STREAM to its "dev:inode").
bool stdout_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  struct stat st {};
  return std::sscanf(js, "%llu:%llu", &dev, &ino) == 2 && ::fstat(1, &st) == 0 &&
         static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

/// "<N>": the syslog priority of an spdlog level (sd-daemon(3) prefixes).
void append_priority(spdlog::memory_buf_t& d, spdlog::level::level_enum level) {
  char p = '6';
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: p = '7'; break;
    case spdlog::level::info: p = '6'; break;
    case spdlog::level::warn: p = '4'; break;
    case spdlog::level::err: p = '3'; break;
    case spdlog::level::critical: p = '2'; break;
    default: break;
  }
  const char prefix[] = {'<', p, '>'};
  d.append(prefix, prefix + 3);
}

void append_timestamp(spdlog::memory_buf_t& d, const spdlog::details::log_msg& msg) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms % 1000));
  append(d, ts);
}

/// `2026-01-01T00:00:00.000Z info [auth] message`, control characters in the message as
/// \n, \r, \t or \xNN.
class text_formatter final : public spdlog::formatter {
 public:
  explicit text_formatter(bool journal) : journal_(journal) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (journal_) append_priority(dest, msg.level);
    append_timestamp(dest, msg);
    dest.push_back(' ');
    auto lv = spdlog::level::to_string_view(msg.level);
    dest.append(lv.data(), lv.data() + lv.size());
    append(dest, " [");
    append(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, "] ");
    for (unsigned char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      if (c >= 0x20 && c != 0x7F) {
        dest.push_back(static_cast<char>(c));
      } else if (c == '\n') {
        append(dest, "\\n");
      } else if (c == '\r') {
        append(dest, "\\r");
      } else if (c == '\t') {
        append(dest, "\\t");
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        append(dest, buf);
      }
    }
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<text_formatter>(journal_); }

 private:
  bool journal_;
};

class json_formatter final : public spdlog::formatter {
 public:
  explicit json_formatter(bool journal) : journal_(journal) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (journal_) append_priority(dest, msg.level);
    append(dest, "{\"ts\":\"");
    append_timestamp(dest, msg);
    append(dest, "\",\"level\":\"");
    auto lv = spdlog::level::to_string_view(msg.level);
    dest.append(lv.data(), lv.data() + lv.size());
    append(dest, "\",\"logger\":\"");
    escape(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, "\",\"msg\":\"");
    std::string_view payload(msg.payload.data(), msg.payload.size());
    escape(dest, payload);
    dest.push_back('"');
    if (parse_log_event(payload, event_)) {
      append(dest, ",\"event\":\"");
      escape(dest, event_.event);
      dest.push_back('"');
      for (const auto& [key, value] : event_.fields) {
        append(dest, ",\"");
        append(dest, key);  // [a-z][a-z0-9_]*: nothing to escape
        append(dest, "\":\"");
        escape(dest, value);
        dest.push_back('"');
      }
    }
    append(dest, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(journal_); }

 private:
  bool journal_;
  log_event event_;  // reused: the sink calls format under its lock
  // JSON text must be Unicode: a byte that does not start a well-formed UTF-8 sequence (text
  // from the network, e.g. a request path) becomes U+FFFD rather than an invalid line.
  static void escape(spdlog::memory_buf_t& d, std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x80) {
        std::size_t n = utf8_sequence_length(s.substr(i));
        if (n == 0) {
          append(d, "\\ufffd");
        } else {
          append(d, s.substr(i, n));
          i += n - 1;
        }
        continue;
      }
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
    shared_sink->set_formatter(std::make_unique<text_formatter>(stdout_is_journal()));
  }
  return shared_sink;
}

constexpr bool is_key_start(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_key_char(char c) { return is_key_start(c) || (c >= '0' && c <= '9') || c == '_'; }

/// The length of `key=` at the start of `s` (key: [a-z][a-z0-9_]*), or 0.
std::size_t key_prefix(std::string_view s) {
  if (s.empty() || !is_key_start(s[0])) return 0;
  std::size_t k = 1;
  while (k < s.size() && is_key_char(s[k])) ++k;
  return k < s.size() && s[k] == '=' ? k + 1 : 0;
}

bool is_reserved_field(std::string_view key) {
  return key == "ts" || key == "level" || key == "logger" || key == "msg" || key == "event";
}

}  // namespace

std::string log_quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

std::string log_value(std::string_view text) {
  bool plain = !text.empty() && text.find_first_of(" \"\\=") == std::string_view::npos;
  return plain ? std::string(text) : log_quoted(text);
}

bool parse_log_event(std::string_view line, log_event& out) {
  out.event = {};
  out.fields.clear();
  // The event: words free of '=' and '"', up to the first " key=".
  std::size_t i = 0;
  for (;; ++i) {
    if (i == line.size() || line[i] == '=' || line[i] == '"') return false;
    if (line[i] == ' ' && i > 0 && key_prefix(line.substr(i + 1)) != 0) break;
  }
  out.event = line.substr(0, i);
  ++i;
  // Pairs separated by one space; a value bare (up to the next space, no quote or backslash)
  // or quoted as log_quoted writes it.
  for (;;) {
    std::size_t k = key_prefix(line.substr(i));
    if (k == 0) return false;
    std::string_view key = line.substr(i, k - 1);
    if (is_reserved_field(key)) return false;
    for (const auto& f : out.fields) {
      if (f.first == key) return false;
    }
    i += k;
    std::string value;
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i == line.size()) return false;  // unterminated
        char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i == line.size() || (line[i] != '"' && line[i] != '\\')) return false;
          c = line[i++];
        }
        value.push_back(c);
      }
    } else {
      std::size_t end = line.find(' ', i);
      if (end == std::string_view::npos) end = line.size();
      std::string_view bare = line.substr(i, end - i);
      if (bare.find_first_of("\"\\") != std::string_view::npos) return false;
      value.assign(bare);
      i = end;
    }
    out.fields.emplace_back(key, std::move(value));
    if (i == line.size()) return true;
    if (line[i] != ' ') return false;
    ++i;
  }
}

void setup_logging(const std::string& level, const std::string& format) {
  std::lock_guard lock(mutex);
  auto s = sink();
  const bool journal = stdout_is_journal();
  if (format == "json") {
    s->set_formatter(std::make_unique<json_formatter>(journal));
  } else {
    s->set_formatter(std::make_unique<text_formatter>(journal));
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
