#include "credentials.hpp"

#include <openssl/pem.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace portcullis::bench {

bool load_cert_dir(const std::string& dir, std::vector<credential>& out, unsigned limit) {
  std::vector<std::filesystem::path> certs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".crt") certs.push_back(e.path());
  }
  if (ec) return false;
  std::sort(certs.begin(), certs.end());
  if (certs.size() > limit) certs.resize(limit);
  for (const auto& p : certs) {
    auto key_path = p;
    key_path.replace_extension(".key");
    std::unique_ptr<FILE, int (*)(FILE*)> cf(std::fopen(p.c_str(), "r"), &std::fclose);
    std::unique_ptr<FILE, int (*)(FILE*)> kf(std::fopen(key_path.c_str(), "r"), &std::fclose);
    if (!cf || !kf) return false;
    credential c;
    c.cert.reset(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
    c.key.reset(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
    if (!c.cert || !c.key) return false;
    c.params.client_id = p.stem().string();
    out.push_back(std::move(c));
  }
  return true;
}

}  // namespace portcullis::bench
