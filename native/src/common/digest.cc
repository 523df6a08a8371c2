#include "common/digest.h"

#include <openssl/evp.h>

#include "common/hex.h"

namespace lanboot::common {

Digest::Digest(Algorithm algorithm) : size_(algorithm == Algorithm::kSha256 ? 32 : 16) {
  const EVP_MD* md = algorithm == Algorithm::kSha256 ? EVP_sha256() : EVP_md5();
  context_ = EVP_MD_CTX_new();
  failed_ = md == nullptr || context_ == nullptr || EVP_DigestInit_ex(context_, md, nullptr) != 1;
}

Digest::~Digest() { EVP_MD_CTX_free(context_); }

void Digest::update(const uint8_t* data, size_t length) {
  if (failed_ || length == 0) return;
  if (EVP_DigestUpdate(context_, data, length) != 1) failed_ = true;
}

bool Digest::finish(uint8_t* out, size_t capacity) {
  if (failed_) return false;
  failed_ = true;  // a context is finished once
  if (capacity != size_) return false;
  unsigned int written = 0;
  return EVP_DigestFinal_ex(context_, out, &written) == 1 && written == capacity;
}

std::optional<Sha256Digest> Sha256::finish() {
  Sha256Digest out;
  if (!digest_.finish(out.data(), out.size())) return std::nullopt;
  return out;
}

std::optional<Sha256Digest> Sha256::digest(const uint8_t* data, size_t length) {
  Sha256 hash;
  hash.update(data, length);
  return hash.finish();
}

std::string Sha256::hex(const Sha256Digest& digest) { return toHex(digest.data(), digest.size()); }

std::optional<Md5Digest> Md5::finish() {
  Md5Digest out;
  if (!digest_.finish(out.data(), out.size())) return std::nullopt;
  return out;
}

std::optional<Md5Digest> Md5::digest(const uint8_t* data, size_t length) {
  Md5 hash;
  hash.update(data, length);
  return hash.finish();
}

}  // namespace lanboot::common
