// Bootstrap token loading and first-start generation.

#include "admin_token.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "portcullis/auth/secrets.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::string read_token_file(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  if (!in) throw config_error(key, "cannot read token file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = trim(ss.str());
  if (t.empty()) throw config_error(key, "token file " + path + " is empty");
  return t;
}

/// A token file others can read is a token others have. The broker's own file in the data dir
/// is put back to 0600; a file the operator named is theirs to fix, so that only gets a warning.
void check_token_file_mode(const std::string& path, bool own) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
  auto mode = fmt::format("{:04o}", st.st_mode & 07777);
  if (own && ::chmod(path.c_str(), st.st_mode & 07700) == 0) {
    logger("admin")->warn("admin token file {} was readable by other users (mode {}); mode set to {:04o}", path, mode,
                          st.st_mode & 07700);
  } else {
    logger("admin")->warn("admin token file {} is readable by other users (mode {}); it should be 0600", path, mode);
  }
}

/// PORTCULLIS_ADMIN_TOKEN when set and not empty (it then wins over every other source).
const char* env_token() {
  const char* env = std::getenv("PORTCULLIS_ADMIN_TOKEN");
  return env != nullptr && *env != '\0' ? env : nullptr;
}

/// The bootstrap token reaches every tenant: a short one is guessable. Warned about (its length
/// only), not refused: a development setup may choose one on purpose.
constexpr std::size_t min_token_length = 16;

std::string warn_if_short(std::string token, std::string_view source) {
  if (token.size() < min_token_length) {
    logger("admin")->warn("the admin bootstrap token from {} is {} characters long; use at least {} random ones "
                          "(e.g. openssl rand -hex 32)",
                          source, token.size(), min_token_length);
  }
  return token;
}

}  // namespace

void check_bootstrap_token_source(const config& cfg) {
  if (env_token() == nullptr && cfg.admin_token_file) read_token_file(*cfg.admin_token_file, "admin.token_file");
}

std::string load_bootstrap_token_hash(const config& cfg) {
  if (const char* env = env_token()) {
    logger("admin")->info("admin bootstrap token taken from PORTCULLIS_ADMIN_TOKEN");
    return auth::sha256_hex(warn_if_short(std::string(trim(env)), "PORTCULLIS_ADMIN_TOKEN"));
  }
  if (cfg.admin_token_file) {
    std::string hash =
        auth::sha256_hex(warn_if_short(read_token_file(*cfg.admin_token_file, "admin.token_file"), "admin.token_file"));
    logger("admin")->info("admin bootstrap token read from {}", *cfg.admin_token_file);
    check_token_file_mode(*cfg.admin_token_file, false);
    return hash;
  }
  auto path = (std::filesystem::path(cfg.data_dir) / "admin.token").string();
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::string hash = auth::sha256_hex(read_token_file(path, "data_dir"));
    logger("admin")->info("admin bootstrap token read from {}", path);
    check_token_file_mode(path, true);
    return hash;
  }
  std::string token = auth::random_token(32);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) throw config_error("data_dir", "cannot create " + path);
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) throw config_error("data_dir", "cannot write " + path);
  logger("admin")->warn("generated an admin bootstrap token into {} (mode 0600)", path);
  return auth::sha256_hex(token);
}

}  // namespace portcullis::broker
