// GilbertElliottErrorModel: two-state Markov burst loss (Gilbert 1960, Elliott 1963).
// Per packet the chain moves Good->Bad with probability P and Bad->Good with R, then the
// packet is lost with LossGood or LossBad in the new state. Stationary P(Bad) =
// P / (P + R); with LossGood = 0 and LossBad = 1 the loss rate is P / (P + R) and the
// mean loss-burst length is 1 / R. ns-3 3.37 has no such model.
#ifndef COAPBED_GILBERT_ELLIOTT_ERROR_MODEL_H
#define COAPBED_GILBERT_ELLIOTT_ERROR_MODEL_H

#include "ns3/error-model.h"
#include "ns3/random-variable-stream.h"

namespace ns3 {

class GilbertElliottErrorModel : public ErrorModel {
public:
    static TypeId GetTypeId();
    GilbertElliottErrorModel();
    ~GilbertElliottErrorModel() override;

    /// Sets P and R for a long-run loss rate `loss` in [0, 1) and a mean burst length
    /// `burst` >= 1 packets (LossGood = 0, LossBad = 1). False (nothing changed) when no
    /// chain has these figures: P = loss / (burst (1 - loss)) must be <= 1.
    bool SetLossAndBurst(double loss, double burst);
    /// The parameters' long-run loss rate.
    double GetExpectedLossRate() const;
    bool IsBad() const { return m_bad; }
    int64_t AssignStreams(int64_t stream);

private:
    bool DoCorrupt(Ptr<Packet> p) override;
    void DoReset() override;

    double m_p;
    double m_r;
    double m_lossGood;
    double m_lossBad;
    bool m_bad = false;
    Ptr<UniformRandomVariable> m_rng;
};

}  // namespace ns3

#endif
