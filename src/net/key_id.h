// Names for public keys and other data, RFC 6920 ("Naming Things with Hashes"): the
// identifiers RFC 7252 §9.1.3.2 uses for raw public keys are ni:///sha-256-120;... of
// the key's SubjectPublicKeyInfo (DER). OpenSSL 3.0 has no RFC 7250 raw public keys, so
// coapbed uses these identifiers to pin self-signed certificates' keys instead.
#pragma once

#include <optional>
#include <string>

#include "coap/common/bytes.h"

namespace coapbed::net {

struct NiNames {
    std::string ni_sha256_120;   ///< ni:///sha-256-120;<base64url of 15 bytes> (RFC 7252 §9.1.3.2)
    std::string nih_sha256_120;  ///< nih:sha-256-120;<hex, dashed>;<check digit> (RFC 6920 §7)
    std::string ni_sha256;       ///< ni:///sha-256;<base64url of 32 bytes>
};

/// The names of `data` itself.
[[nodiscard]] NiNames ni_names(coap::Bytes data);
/// The names of the public key in a PEM file: a public key, a private key or a
/// certificate. Empty with `error` set when the file holds none of these.
[[nodiscard]] std::optional<NiNames> key_names_from_pem(const std::string& file, std::string& error);
/// The names of a public key given as OpenSSL's EVP_PKEY* (void* keeps OpenSSL out of
/// this header).
[[nodiscard]] std::optional<NiNames> key_names(const void* evp_pkey);
/// RFC 6920 §7 check digit (Luhn mod 16) of lower-case hex digits.
[[nodiscard]] char nih_check_digit(const std::string& hex);
/// Whether `pin` is one of `names` (any form).
[[nodiscard]] bool matches(const NiNames& names, const std::string& pin);

}  // namespace coapbed::net
