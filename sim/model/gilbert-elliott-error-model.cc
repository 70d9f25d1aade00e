#include "gilbert-elliott-error-model.h"

#include <algorithm>

#include "ns3/double.h"
#include "ns3/log.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("GilbertElliottErrorModel");
NS_OBJECT_ENSURE_REGISTERED(GilbertElliottErrorModel);

TypeId GilbertElliottErrorModel::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::GilbertElliottErrorModel")
            .SetParent<ErrorModel>()
            .SetGroupName("Network")
            .AddConstructor<GilbertElliottErrorModel>()
            .AddAttribute("P", "Probability of moving from Good to Bad, per packet.", DoubleValue(0.0),
                          MakeDoubleAccessor(&GilbertElliottErrorModel::m_p), MakeDoubleChecker<double>(0.0, 1.0))
            .AddAttribute("R", "Probability of moving from Bad to Good, per packet.", DoubleValue(1.0),
                          MakeDoubleAccessor(&GilbertElliottErrorModel::m_r), MakeDoubleChecker<double>(0.0, 1.0))
            .AddAttribute("LossGood", "Loss probability in the Good state (1 - k).", DoubleValue(0.0),
                          MakeDoubleAccessor(&GilbertElliottErrorModel::m_lossGood), MakeDoubleChecker<double>(0.0, 1.0))
            .AddAttribute("LossBad", "Loss probability in the Bad state (1 - h).", DoubleValue(1.0),
                          MakeDoubleAccessor(&GilbertElliottErrorModel::m_lossBad), MakeDoubleChecker<double>(0.0, 1.0));
    return tid;
}

GilbertElliottErrorModel::GilbertElliottErrorModel() : m_rng(CreateObject<UniformRandomVariable>()) {}
GilbertElliottErrorModel::~GilbertElliottErrorModel() = default;

bool GilbertElliottErrorModel::SetLossAndBurst(double loss, double burst) {
    if (!(loss >= 0 && loss < 1 && burst >= 1)) return false;
    const double r = 1.0 / burst;
    const double p = loss * r / (1.0 - loss);
    if (p > 1.0 + 1e-9) return false;  // rounding aside
    m_p = std::min(p, 1.0);
    m_r = r;
    m_lossGood = 0;
    m_lossBad = 1;
    return true;
}

double GilbertElliottErrorModel::GetExpectedLossRate() const {
    if (m_p + m_r == 0) return m_bad ? m_lossBad : m_lossGood;
    const double bad = m_p / (m_p + m_r);
    return bad * m_lossBad + (1 - bad) * m_lossGood;
}

int64_t GilbertElliottErrorModel::AssignStreams(int64_t stream) {
    m_rng->SetStream(stream);
    return 1;
}

bool GilbertElliottErrorModel::DoCorrupt(Ptr<Packet>) {
    const double u = m_rng->GetValue(0.0, 1.0);
    m_bad = m_bad ? !(u < m_r) : (u < m_p);
    const double v = m_rng->GetValue(0.0, 1.0);
    return v < (m_bad ? m_lossBad : m_lossGood);
}

void GilbertElliottErrorModel::DoReset() { m_bad = false; }

}  // namespace ns3
