#include "file_hash.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "input_error.hpp"

namespace qk {

namespace {

struct Digest {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  Digest() {
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("sha256: OpenSSL digest init failed");
  }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx.get(), p, n); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &n);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += digits[md[i] >> 4];
      s += digits[md[i] & 15];
    }
    return s;
  }
};

}  // namespace

std::string sha256_file_prefix(const std::string& path, uint64_t bytes) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw InputError(path, std::string("cannot read: ") + std::strerror(errno));
  Digest d;
  std::vector<char> buf(1 << 20);
  while (bytes > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(bytes, buf.size()));
    const size_t got = std::fread(buf.data(), 1, want, f.get());
    if (got > 0) d.update(buf.data(), got);
    if (got < want) {
      if (std::ferror(f.get())) throw InputError(path, "read error while hashing");
      break;
    }
    bytes -= got;
  }
  return d.hex();
}

std::string sha256_file(const std::string& path) { return sha256_file_prefix(path, UINT64_MAX); }

std::string sha256_bytes(const std::string& data) {
  Digest d;
  d.update(data.data(), data.size());
  return d.hex();
}

}  // namespace qk
