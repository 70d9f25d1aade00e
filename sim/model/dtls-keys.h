// The keys of simulated devices (the [security] modes of scenario files): P-256 key pairs
// and self-signed certificates (valid for 100 years) made once with the openssl tool and
// provisioned into every simulated client and server. TEST KEYS: public in this
// repository, for simulations only; never use them on a real network.
#ifndef COAPBED_DTLS_KEYS_H
#define COAPBED_DTLS_KEYS_H

namespace coapbed::sim::keys {

inline constexpr const char* kPskIdentity = "coapbed-sim";
inline constexpr const char* kPskKey = "coapbed-sim-psk-16";  // 18 bytes

inline constexpr const char* kServerKey = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIGSOspVML7uypOWk84MbnVj37kgWrD+0CflQOaxegaNfoAoGCCqGSM49
AwEHoUQDQgAEUPKBYf+MvsSGKXuMh9WVIHGLSex7Ybqhzk5RV7qJTAeiJxHUNjNh
lZjY6ZOr48sWr0X8uSLak58I1UOzQifKwg==
-----END EC PRIVATE KEY-----
)";
inline constexpr const char* kServerCertificate = R"(-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUcInRrakeCMnVDdav5y6SpnQk4B8wCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSY29hcGJlZC1zaW0tc2VydmVyMCAXDTI2MTIwNTA1MDcyMloY
DzIxMjYxMTExMDUwNzIyWjAdMRswGQYDVQQDDBJjb2FwYmVkLXNpbS1zZXJ2ZXIw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARQ8oFh/4y+xIYpe4yH1ZUgcYtJ7Hth
uqHOTlFXuolMB6InEdQ2M2GVmNjpk6vjyxavRfy5ItqTnwjVQ7NCJ8rCo1MwUTAd
BgNVHQ4EFgQUafYLKbMr2XWXHHOe/eMB2ONT+6kwHwYDVR0jBBgwFoAUafYLKbMr
2XWXHHOe/eMB2ONT+6kwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEAsBlQDxFAeW5Tw0xiH+QCkScWZQv7c58hJQ/9hDCbrxkCIQChUF9OkZB73dFj
8HIXuZ7j1TrMxyDuXT/Netd6ntMbyw==
-----END CERTIFICATE-----
)";
inline constexpr const char* kClientKey = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMgEIJoOkbeew6H2jdQXMaQ028/oqzwG198WLh2CxFLHoAoGCCqGSM49
AwEHoUQDQgAEducXbpS7s82k38rik8irzsfvzydwauXju08j81HlGBrAi0gmO8C/
nRm8yLx2k9rl+ok6g169FIuLD1HWAOdRNA==
-----END EC PRIVATE KEY-----
)";
inline constexpr const char* kClientCertificate = R"(-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUOgNP6zIhI8LQfVwU7bN1L6STCiQwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSY29hcGJlZC1zaW0tY2xpZW50MCAXDTI2MTIwNTA1MDcyMloY
DzIxMjYxMTExMDUwNzIyWjAdMRswGQYDVQQDDBJjb2FwYmVkLXNpbS1jbGllbnQw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR25xdulLuzzaTfyuKTyKvOx+/PJ3Bq
5eO7TyPzUeUYGsCLSCY7wL+dGbzIvHaT2uX6iTqDXr0Ui4sPUdYA51E0o1MwUTAd
BgNVHQ4EFgQUEDxwX8FhbAzrOClkSMnhKIQqakYwHwYDVR0jBBgwFoAUEDxwX8Fh
bAzrOClkSMnhKIQqakYwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAgM+LA2iTTYAL4ZYCc3ZbZzwVeKHseYVrNtOv6m4dNKACIH90pe7ZSFMZE9b7
ELhyss3xgGPku0ijKwiFtRn2D4fl
-----END CERTIFICATE-----
)";

/// RFC 6920 names of the two keys (ni:///sha-256-120, RFC 7252 §9.1.3.2.1), pinned by the peers.
inline constexpr const char* kServerKeyName = "ni:///sha-256-120;gV-HschPnpeATEJ4QMRy";
inline constexpr const char* kClientKeyName = "ni:///sha-256-120;txsFIC0r8kX1QQ305QJj";

}  // namespace coapbed::sim::keys

#endif
