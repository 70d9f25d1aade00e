#include "net/key_id.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <vector>

namespace coapbed::net {

namespace {

std::string base64url(const std::uint8_t* p, std::size_t n) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
        for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
    }
    if (n - i == 1) {
        const std::uint32_t v = std::uint32_t{p[i]} << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out;  // RFC 6920 §3: base64url without padding
}

}  // namespace

// RFC 6920 §7: Luhn mod N with N = 16 over the hex digits.
char nih_check_digit(const std::string& hex) {
    int factor = 2, sum = 0;
    for (std::size_t i = hex.size(); i-- > 0;) {
        const char c = hex[i];
        const int code = c <= '9' ? c - '0' : c - 'a' + 10;
        int addend = factor * code;
        factor = factor == 2 ? 1 : 2;
        addend = addend / 16 + addend % 16;
        sum += addend;
    }
    const int check = (16 - sum % 16) % 16;
    return "0123456789abcdef"[check];
}

NiNames ni_names(coap::Bytes data) {
    std::uint8_t digest[32];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
    NiNames n;
    n.ni_sha256 = "ni:///sha-256;" + base64url(digest, 32);
    n.ni_sha256_120 = "ni:///sha-256-120;" + base64url(digest, 15);
    std::string hex;
    for (int i = 0; i < 15; ++i) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", digest[i]);
        hex += b;
    }
    std::string dashed;
    for (std::size_t i = 0; i < hex.size(); ++i) {
        if (i > 0 && i % 4 == 0) dashed += '-';
        dashed += hex[i];
    }
    n.nih_sha256_120 = "nih:sha-256-120;" + dashed + ";" + nih_check_digit(hex);
    return n;
}

std::optional<NiNames> key_names(const void* evp_pkey) {
    auto* key = static_cast<EVP_PKEY*>(const_cast<void*>(evp_pkey));
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(key, &der);  // SubjectPublicKeyInfo
    if (len <= 0) return std::nullopt;
    NiNames n = ni_names(coap::Bytes(der, static_cast<std::size_t>(len)));
    OPENSSL_free(der);
    return n;
}

std::optional<NiNames> key_names_from_pem(const std::string& file, std::string& error) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr) {
        error = "cannot open " + file;
        return std::nullopt;
    }
    // Try a certificate, a public key, a private key, in that order.
    std::optional<NiNames> names;
    if (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
        names = key_names(X509_get0_pubkey(cert));
        X509_free(cert);
    }
    if (!names) {
        std::rewind(f);
        if (EVP_PKEY* k = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr)) {
            names = key_names(k);
            EVP_PKEY_free(k);
        }
    }
    if (!names) {
        std::rewind(f);
        if (EVP_PKEY* k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr)) {
            names = key_names(k);
            EVP_PKEY_free(k);
        }
    }
    std::fclose(f);
    if (!names) error = file + " holds no PEM certificate, public key or private key";
    return names;
}

bool matches(const NiNames& names, const std::string& pin) {
    return pin == names.ni_sha256_120 || pin == names.ni_sha256 || pin == names.nih_sha256_120;
}

}  // namespace coapbed::net
