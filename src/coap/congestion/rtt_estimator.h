// The RFC 6298 §2 smoothed RTT estimator, shared by the strategies that use it.
#pragma once

#include "coap/common/time.h"

namespace coap {

/// SRTT and RTTVAR with alpha = 1/8, beta = 1/4 (RFC 6298 §2). No clock granularity
/// term and no 1-second floor: CoAP strategies apply their own bounds.
class RttEstimator {
public:
    /// RFC 6298 §2.2 for the first sample, §2.3 afterwards.
    void sample(Duration r) noexcept {
        if (!valid_) {
            srtt_ = r;
            rttvar_ = r / 2;
            valid_ = true;
            return;
        }
        // RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, then SRTT <- (1 - alpha) * SRTT + alpha * R'.
        const Duration diff = srtt_ > r ? srtt_ - r : r - srtt_;
        rttvar_ = (rttvar_ * 3 + diff) / 4;
        srtt_ = (srtt_ * 7 + r) / 8;
    }
    /// SRTT + k * RTTVAR.
    [[nodiscard]] Duration rto(int k) const noexcept { return srtt_ + rttvar_ * k; }
    [[nodiscard]] bool valid() const noexcept { return valid_; }
    [[nodiscard]] Duration srtt() const noexcept { return srtt_; }
    [[nodiscard]] Duration rttvar() const noexcept { return rttvar_; }

private:
    bool valid_ = false;
    Duration srtt_;
    Duration rttvar_;
};

}  // namespace coap
