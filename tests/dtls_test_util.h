// Helpers of the DTLS tests (dtls_test.cc, dtls_stacks_test.cc): a client and a server
// layer wired back to back in memory, and self-signed certificates.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "net/dtls.h"
#include "net/key_id.h"

namespace coapbed::test {

using coapbed::net::DtlsConfig;
using coapbed::net::DtlsLayer;

inline const coap::Peer kClient = coap::Peer::ipv4(0x7f000001, 40000);
inline const coap::Peer kServer = coap::Peer::ipv4(0x7f000001, 5684);

struct Wire {
    struct Datagram {
        coap::Peer from, to;
        std::vector<std::uint8_t> bytes;
    };
    std::deque<Datagram> queue;
    std::vector<Datagram> log;
    DtlsLayer::Send from(const coap::Peer& self) {
        return [this, self](const coap::Peer& to, const std::uint8_t* d, std::size_t n) {
            queue.push_back({self, to, std::vector<std::uint8_t>(d, d + n)});
            log.push_back(queue.back());
        };
    }
};

/// Delivers everything on the wire; returns the plaintexts each side received.
inline void pump(Wire& w, DtlsLayer& client, DtlsLayer& server, std::vector<std::string>& at_client,
          std::vector<std::string>& at_server, int max = 100) {
    const coap::TimePoint now = coap::TimePoint::from_ns(1'000'000'000);
    while (!w.queue.empty() && max-- > 0) {
        Wire::Datagram d = w.queue.front();
        w.queue.pop_front();
        std::vector<std::vector<std::uint8_t>> plain;
        if (d.to == kServer) {
            server.receive(now, d.from, coap::Bytes(d.bytes.data(), d.bytes.size()), w.from(kServer), plain);
            for (auto& p : plain) at_server.emplace_back(p.begin(), p.end());
        } else {
            client.receive(now, d.from, coap::Bytes(d.bytes.data(), d.bytes.size()), w.from(kClient), plain);
            for (auto& p : plain) at_client.emplace_back(p.begin(), p.end());
        }
    }
}

// A server in certificate mode with a self-signed P-256 certificate and its key, written
// as `<stem>-cert.pem` and `<stem>-key.pem` in the test's temporary directory, and a
// client that pins the key by its RFC 6920 name.
struct CertificateConfigs {
    DtlsConfig server, client;
};
inline CertificateConfigs self_signed(const std::string& stem) {
    CertificateConfigs c;
    c.server.server = true;
    c.server.cert_file = ::testing::TempDir() + "/" + stem + "-cert.pem";
    c.server.key_file = ::testing::TempDir() + "/" + stem + "-key.pem";
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("coapbed dtls test"),
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    FILE* f = std::fopen(c.server.cert_file.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(c.server.key_file.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    c.client.pin = coapbed::net::key_names(key)->ni_sha256_120;
    X509_free(x);
    EVP_PKEY_free(key);
    return c;
}

}  // namespace coapbed::test
