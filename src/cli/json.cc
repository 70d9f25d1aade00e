#include "cli/json.h"

#include <cstdio>

#include "coap/options/values.h"

namespace coapbed::cli {

namespace {
// Length of the valid UTF-8 sequence starting at s[i], or 0 if none starts there.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    for (std::size_t len = 1; len <= 4 && i + len <= s.size(); ++len) {
        if (coap::is_valid_utf8(coap::Bytes(s.substr(i, len)))) return len;
    }
    return 0;
}
}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out.append(buf);
            ++i;
        } else if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (const std::size_t len = utf8_sequence(s, i); len > 0) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out.append("\\ufffd");
            ++i;
        }
    }
    out.push_back('"');
}

void append_hex(std::string& out, coap::Bytes bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::uint8_t b : bytes) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0x0f]);
    }
}

bool parse_hex(std::string_view text, std::string& bytes_out) {
    bytes_out.clear();
    int high = -1;
    for (char ch : text) {
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') continue;
        int v;
        if (ch >= '0' && ch <= '9') {
            v = ch - '0';
        } else if (ch >= 'a' && ch <= 'f') {
            v = ch - 'a' + 10;
        } else if (ch >= 'A' && ch <= 'F') {
            v = ch - 'A' + 10;
        } else {
            return false;
        }
        if (high < 0) {
            high = v;
        } else {
            bytes_out.push_back(static_cast<char>((high << 4) | v));
            high = -1;
        }
    }
    return high < 0;
}

}  // namespace coapbed::cli
