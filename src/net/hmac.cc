#include "net/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace coapbed::net {

HmacSha256::HmacSha256() : key_(32) {
    if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) throw std::runtime_error("RAND_bytes failed");
}

HmacSha256::HmacSha256(std::vector<std::uint8_t> key) : key_(std::move(key)) {}

void HmacSha256::mac(coap::Bytes data, std::array<std::uint8_t, 32>& out) const {
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), data.data(), data.size(), out.data(), &len) ==
            nullptr ||
        len != out.size()) {
        // Not a peer's doing (OpenSSL itself failed): never hand out a predictable tag.
        throw std::runtime_error("HMAC-SHA256 failed");
    }
}

}  // namespace coapbed::net
