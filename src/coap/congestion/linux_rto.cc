// The Linux TCP RTO estimator (net/ipv4/tcp_input.c's tcp_rtt_estimator and
// tcp_set_rto, as described in Sarolahti and Kuznetsov, "Congestion Control in Linux
// TCP", USENIX 2002), applied to CoAP as in the CoAP congestion-control studies.
#include <algorithm>

#include "coap/congestion/congestion.h"

namespace coap {

namespace {

class LinuxRto final : public CongestionControl {
public:
    explicit LinuxRto(const TransmissionParams& p) : p_(p), rto_(p.ack_timeout) {}

    FirstTimeout initial_timeout(TimePoint, Random&, std::size_t) override {
        return {rto_, rto_, 0};  // Linux does not dither
    }
    Duration next_timeout(TimePoint, const FirstTimeout&, Duration previous, unsigned) override {
        return std::min(previous * 2, kMaxRto);
    }

    bool on_ack(TimePoint, Duration m, unsigned retransmissions) override {
        if (retransmissions != 0) {
            // Karn's rule: an ambiguous exchange gives no sample. Linux keeps the RTO its
            // retransmission timer backed off (tcp_retransmit_timer doubles icsk_rto) until
            // a valid sample sets it again: Karn and Partridge (1987), RFC 6298 §5.5-5.7.
            // Without that, an RTO below the RTT (the 2 s initial one behind a queue, say)
            // times out every exchange, and none of them gives the sample that would fix it.
            rto_ = std::min(rto_ * (std::int64_t{1} << std::min(retransmissions, 8u)), kMaxRto);
            return false;
        }
        if (!valid_) {
            srtt_ = m;
            mdev_ = m / 2;
            mdev_max_ = std::max(mdev_, kMdevMin);
            rttvar_ = mdev_max_;
            valid_ = true;
        } else {
            Duration err = m - srtt_;
            srtt_ += err / 8;
            if (err < Duration::zero()) {
                // A falling RTT raises mdev much less: its excess counts 1/8.
                err = Duration::zero() - err;
                Duration excess = err - mdev_;
                if (excess > Duration::zero()) excess = excess / 8;
                mdev_ += excess / 4;
            } else {
                mdev_ += (err - mdev_) / 4;
            }
            if (mdev_ > mdev_max_) {
                mdev_max_ = mdev_;
                if (mdev_max_ > rttvar_) rttvar_ = mdev_max_;
            }
            // Once per sample here (Linux: once per RTT): rttvar decays toward mdev_max.
            if (mdev_max_ < rttvar_) rttvar_ -= (rttvar_ - mdev_max_) / 4;
            mdev_max_ = kMdevMin;
        }
        rto_ = std::clamp(srtt_ + rttvar_ * 4, kRtoMin, kMaxRto);
        return true;
    }

    Duration current_rto(TimePoint) const override { return rto_; }
    std::string_view name() const noexcept override { return "linux-rto"; }

private:
    static constexpr Duration kRtoMin = Duration::milliseconds(200);  // TCP_RTO_MIN
    // Linux keeps mdev, mdev_max and rttvar four times over (RTO = SRTT + rttvar there)
    // and floors rttvar at TCP_RTO_MIN; here they are plain deviations (RTO = SRTT +
    // 4 rttvar), so the floor is a quarter of it: RTO >= SRTT + TCP_RTO_MIN, as in Linux.
    static constexpr Duration kMdevMin = Duration::milliseconds(50);
    static constexpr Duration kMaxRto = Duration::seconds(60);
    TransmissionParams p_;
    bool valid_ = false;
    Duration srtt_, mdev_, mdev_max_, rttvar_;
    Duration rto_;
};

}  // namespace

std::unique_ptr<CongestionControl> make_linux_rto(const TransmissionParams& params) {
    return std::make_unique<LinuxRto>(params);
}

}  // namespace coap
