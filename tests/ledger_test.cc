// MessageLedger (sim/scenario/ledger.h): spurious against necessary copies, the useful
// bottleneck bytes, and the bound of its table.
#include <gtest/gtest.h>

#include "sim/scenario/ledger.h"

namespace {

using coapbed::sim::MessageLedger;
constexpr std::uint8_t kCon = 0, kAck = 2;

TEST(MessageLedger, CopiesAfterTheFirstThatGotThroughAreSpuriousEvenIfSentBeforeItArrived) {
    MessageLedger l(93);
    const auto c0 = l.sent(1, 2, kCon, 0x1234, 0.0);  // lost
    EXPECT_EQ(c0.copy, 0u);
    const auto c1 = l.sent(1, 2, kCon, 0x1234, 2.5);  // needed: gets through at 9 s
    EXPECT_EQ(c1.id, c0.id);
    EXPECT_EQ(c1.copy, 1u);
    const auto c2 = l.sent(1, 2, kCon, 0x1234, 7.5);  // sent before c1 arrived: still spurious
    l.delivered(c1.id, c1.copy);
    l.delivered(c2.id, c2.copy);
    const auto c3 = l.sent(1, 2, kCon, 0x1234, 15.5);
    (void)c3;
    const auto t = l.finish();
    EXPECT_EQ(t.datagrams, 4u);
    EXPECT_EQ(t.con_retransmissions, 3u);
    EXPECT_EQ(t.spurious_retransmissions, 2u);  // c2 and c3; c1 replaced the lost c0
    EXPECT_EQ(t.spurious, 2u);
    EXPECT_EQ(t.messages, 1u);
    EXPECT_EQ(t.delivered, 1u);
}

TEST(MessageLedger, WhenEveryCopyIsLostEveryRetransmissionWasNeeded) {
    MessageLedger l(93);
    for (double at : {0.0, 2.0, 6.0, 14.0, 30.0}) l.sent(1, 2, kCon, 9, at);
    const auto t = l.finish();
    EXPECT_EQ(t.con_retransmissions, 4u);
    EXPECT_EQ(t.spurious_retransmissions, 0u);
    EXPECT_EQ(t.delivered, 0u);
}

TEST(MessageLedger, AReplySentAgainIsACopyButNotARetransmission) {
    MessageLedger l(93);
    const auto ack = l.sent(2, 1, kAck, 0x1234, 0.1);
    l.delivered(ack.id, ack.copy);
    l.sent(2, 1, kAck, 0x1234, 2.6);  // re-sent for a duplicate CON
    const auto t = l.finish();
    EXPECT_EQ(t.spurious, 1u);
    EXPECT_EQ(t.con_retransmissions, 0u);
    EXPECT_EQ(t.spurious_retransmissions, 0u);
}

TEST(MessageLedger, SenderPeerTypeAndMessageIdTogetherNameAMessage) {
    MessageLedger l(93);
    const auto a = l.sent(1, 2, kCon, 7, 0);
    EXPECT_NE(l.sent(1, 3, kCon, 7, 0).id, a.id);  // another peer
    EXPECT_NE(l.sent(9, 2, kCon, 7, 0).id, a.id);  // another sender
    EXPECT_NE(l.sent(1, 2, kAck, 7, 0).id, a.id);  // another type
    EXPECT_NE(l.sent(1, 2, kCon, 8, 0).id, a.id);  // another Message ID
    EXPECT_EQ(l.sent(1, 2, kCon, 7, 1).id, a.id);
    EXPECT_EQ(l.finish().messages, 5u);
}

TEST(MessageLedger, UsefulBytesAreTheFirstCopiesOfDeliveredMessages) {
    MessageLedger l(93);
    const auto got = l.sent(1, 2, kCon, 1, 0);
    const auto lost = l.sent(1, 2, kCon, 2, 0);
    l.on_bottleneck(got.id, got.copy, 100);
    l.on_bottleneck(lost.id, lost.copy, 100);
    const auto again = l.sent(1, 2, kCon, 1, 2);
    l.on_bottleneck(again.id, again.copy, 100);  // a retransmission: never useful
    l.delivered(again.id, again.copy);
    EXPECT_EQ(l.finish().useful_bottleneck_bytes, 100u);
}

TEST(MessageLedger, TheTableHoldsOnlyTheLastHorizonAndAReusedIdAfterItIsANewMessage) {
    MessageLedger l(93);
    for (int i = 0; i < 10000; ++i) {
        const auto c = l.sent(1, 2, kCon, static_cast<std::uint16_t>(i), i);
        l.delivered(c.id, c.copy);
        EXPECT_LE(l.size(), 94u);
    }
    // Message ID 0 again, long after its first use: a new message, not a copy.
    const auto reuse = l.sent(1, 2, kCon, 0, 20000);
    EXPECT_EQ(reuse.copy, 0u);
    const auto t = l.finish();
    EXPECT_EQ(t.messages, 10001u);
    EXPECT_EQ(t.delivered, 10000u);
    EXPECT_EQ(l.size(), 0u);
}

}  // namespace
