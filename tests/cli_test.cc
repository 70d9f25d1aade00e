// The `coapbed decode` / `coapbed uri` contract, in process.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/commands.h"

using coapbed::cli::Args;

namespace {
struct CmdRun {
    int code;
    std::string out;
    std::string err;
};
CmdRun decode(const Args& a) {
    std::ostringstream out, err;
    const int code = coapbed::cli::cmd_decode(a, out, err);
    return {code, out.str(), err.str()};
}
CmdRun uri(const Args& a) {
    std::ostringstream out, err;
    const int code = coapbed::cli::cmd_uri(a, out, err);
    return {code, out.str(), err.str()};
}
}  // namespace

TEST(CliDecode, WellFormedMessage) {
    // CON GET, token 0xbeef, Uri-Host "h", Uri-Path "s", Observe 0 (zero-length), Accept 50,
    // Block2 NUM 2 SZX 6, Echo 0x0102 (opaque), unknown 65000, payload "hi".
    const CmdRun r = decode({"44 01 12 34 be ef 00 00 31 68 31 00 51 73 61 32 61 26 d2 d8 01 02 e0 fb df ff 68 69"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out,
              "{\"version\":1,\"type\":\"CON\",\"code\":\"0.01\",\"code_name\":\"GET\",\"mid\":4660,"
              "\"token\":\"beef0000\",\"options\":["
              "{\"number\":3,\"name\":\"Uri-Host\",\"value\":\"h\"},"
              "{\"number\":6,\"name\":\"Observe\",\"value\":0},"
              "{\"number\":11,\"name\":\"Uri-Path\",\"value\":\"s\"},"
              "{\"number\":17,\"name\":\"Accept\",\"value\":50,\"content_format\":\"application/json\"},"
              "{\"number\":23,\"name\":\"Block2\",\"value\":38,\"block\":{\"num\":2,\"m\":false,\"szx\":6,\"size\":1024}},"
              "{\"number\":252,\"name\":\"Echo\",\"value\":\"0102\"},"
              "{\"number\":65000,\"name\":\"Unknown\",\"value\":\"\"}],"
              "\"payload\":\"6869\"}\n");
}

TEST(CliDecode, EmptyAckAndResponseCodes) {
    CmdRun r = decode({"60000001"});
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, "{\"version\":1,\"type\":\"ACK\",\"code\":\"0.00\",\"code_name\":\"Empty\",\"mid\":1,"
                     "\"token\":\"\",\"options\":[],\"payload\":\"\"}\n");
    r = decode({"6", "0", "84 00 07"});  // several arguments are joined
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("\"code\":\"4.04\",\"code_name\":\"Not Found\""), std::string::npos);
    r = decode({"60 3f 00 07"});  // 1.31: no registered name
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("\"code\":\"1.31\",\"mid\""), std::string::npos);
}

TEST(CliDecode, StringOptionsAreJsonEscaped) {
    // Uri-Path "a\"\x01" then an invalid UTF-8 byte
    const CmdRun r = decode({"40 01 00 01 b4 61 22 01 ff"});
    ASSERT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("\"value\":\"a\\\"\\u0001\\ufffd\""), std::string::npos) << r.out;
}

TEST(CliDecode, MalformedMessageIsExit1WithRuleAndOffset) {
    CmdRun r = decode({"40 01 00"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "error: message-too-short at byte 3\n");
    r = decode({"49 01 00 01"});
    EXPECT_EQ(r.err, "error: token-length-reserved at byte 0\n");
    r = decode({"40 01 00 01 b4 61"});
    EXPECT_EQ(r.err, "error: option-value-past-end at byte 4\n");
    r = decode({"40 01 00 01 ff"});
    EXPECT_EQ(r.err, "error: payload-marker-without-payload at byte 4\n");
}

TEST(CliDecode, BadCommandLinesAreExit2) {
    EXPECT_EQ(decode({}).code, 2);
    EXPECT_EQ(decode({"4g"}).code, 2);
    EXPECT_EQ(decode({"401"}).code, 2);
    EXPECT_EQ(decode({"--bogus"}).code, 2);
    const CmdRun help = decode({"--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("usage: coapbed decode HEX"), std::string::npos);
}

TEST(CliUri, DecomposesAndComposes) {
    const CmdRun r = uri({"coap://EXAMPLE.com:/%7esensors/temp.xml?unit=C&x"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out,
              "{\"scheme\":\"coap\",\"host\":\"example.com\",\"port\":5683,\"options\":["
              "{\"number\":3,\"name\":\"Uri-Host\",\"value\":\"example.com\"},"
              "{\"number\":11,\"name\":\"Uri-Path\",\"value\":\"~sensors\"},"
              "{\"number\":11,\"name\":\"Uri-Path\",\"value\":\"temp.xml\"},"
              "{\"number\":15,\"name\":\"Uri-Query\",\"value\":\"unit=C\"},"
              "{\"number\":15,\"name\":\"Uri-Query\",\"value\":\"x\"}],"
              "\"uri\":\"coap://example.com/~sensors/temp.xml?unit=C&x\"}\n");
}

TEST(CliUri, InvalidIsExit1BadLineExit2) {
    CmdRun r = uri({"coap://h:65536/"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "error: port-out-of-range at byte 9\n");
    r = uri({"http://h/"});
    EXPECT_EQ(r.err, "error: unsupported-scheme at byte 0\n");
    EXPECT_EQ(uri({}).code, 2);
    EXPECT_EQ(uri({"a", "b"}).code, 2);
    EXPECT_EQ(uri({"--help"}).code, 0);
}

TEST(CliRun, Dispatch) {
    std::ostringstream out, err;
    const char* no_command[] = {"coapbed"};
    EXPECT_EQ(coapbed::cli::run(1, no_command, out, err), 2);
    const char* unknown[] = {"coapbed", "frobnicate"};
    EXPECT_EQ(coapbed::cli::run(2, unknown, out, err), 2);
    const char* help[] = {"coapbed", "--help"};
    EXPECT_EQ(coapbed::cli::run(2, help, out, err), 0);
    const char* dec[] = {"coapbed", "decode", "60000001"};
    EXPECT_EQ(coapbed::cli::run(3, dec, out, err), 0);
}
