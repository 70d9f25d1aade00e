#include "coap-client.h"

#include <algorithm>
#include <cmath>

#include "ns3/address.h"
#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include "coap/codec/code.h"
#include "coap/options/registry.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("CoapClient");
NS_OBJECT_ENSURE_REGISTERED(CoapClient);

TypeId CoapClient::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::CoapClient")
            .SetParent<CoapApplication>()
            .SetGroupName("Applications")
            .AddConstructor<CoapClient>()
            .AddAttribute("RemoteAddress", "The server's socket address (InetSocketAddress or Inet6SocketAddress).",
                          AddressValue(), MakeAddressAccessor(&CoapClient::m_remote), MakeAddressChecker())
            .AddAttribute("MaxRequests", "Requests to send (0: until SendUntil).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapClient::m_maxRequests), MakeUintegerChecker<uint32_t>())
            .AddAttribute("Interval", "Closed loop: think time after a request ends. Poisson: mean gap.",
                          TimeValue(Seconds(1)), MakeTimeAccessor(&CoapClient::m_interval), MakeTimeChecker())
            .AddAttribute("Arrival", "\"closed\", \"poisson\" or \"on-off\" (closed loop during on periods).",
                          StringValue("closed"),
                          MakeStringAccessor(&CoapClient::m_arrival), MakeStringChecker())
            .AddAttribute("Method", "GET, POST, PUT, DELETE or FETCH.", StringValue("GET"),
                          MakeStringAccessor(&CoapClient::m_method), MakeStringChecker())
            .AddAttribute("Path", "Uri-Path of the requests (no leading /).", StringValue("data"),
                          MakeStringAccessor(&CoapClient::m_path), MakeStringChecker())
            .AddAttribute("Observe", "Register as an observer (RFC 7641 Observe: 0) with each request and count "
                          "the notifications that follow.", BooleanValue(false),
                          MakeBooleanAccessor(&CoapClient::m_observe), MakeBooleanChecker())
            .AddAttribute("ProxyUri", "If set, the start of a Proxy-Uri (\"coap://10.2.0.1:5683/\"): every request "
                          "goes to RemoteAddress, a forward proxy, with Proxy-Uri = this + the path (RFC 7252 §5.7).",
                          StringValue(""), MakeStringAccessor(&CoapClient::m_proxyUri), MakeStringChecker())
            .AddAttribute("Resources", "Resources Path/0 .. Path/(N-1), chosen by Zipf popularity (0: Path only).",
                          UintegerValue(0), MakeUintegerAccessor(&CoapClient::m_resources),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("Zipf", "Zipf exponent of the resources' popularity.", DoubleValue(0.8),
                          MakeDoubleAccessor(&CoapClient::m_zipf), MakeDoubleChecker<double>(0.0))
            .AddAttribute("RequestSize", "Request body bytes (sent block-wise when larger than a block).",
                          UintegerValue(0), MakeUintegerAccessor(&CoapClient::m_requestSize),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("Confirmable", "Send CON (true) or NON (false) requests.", BooleanValue(true),
                          MakeBooleanAccessor(&CoapClient::m_confirmable), MakeBooleanChecker())
            .AddAttribute("OnTime", "on-off: mean length of a period of requests (exponential).", TimeValue(Seconds(10)),
                          MakeTimeAccessor(&CoapClient::m_onMean), MakeTimeChecker())
            .AddAttribute("OffTime", "on-off: mean length of an idle period (exponential).", TimeValue(Seconds(50)),
                          MakeTimeAccessor(&CoapClient::m_offMean), MakeTimeChecker())
            .AddAttribute("Spread", "Send the first request at a random time within one Interval of the start "
                          "(false: at once, as a short-lived client that arrives with a request).",
                          BooleanValue(true), MakeBooleanAccessor(&CoapClient::m_spread), MakeBooleanChecker())
            .AddAttribute("BurstAt", "When to send BurstRequests requests at once, beside the load.", TimeValue(Seconds(0)),
                          MakeTimeAccessor(&CoapClient::m_burstAt), MakeTimeChecker())
            .AddAttribute("BurstRequests", "Requests sent at once at BurstAt (0: no burst); they queue behind "
                          "NSTART in the engine.",
                          UintegerValue(0), MakeUintegerAccessor(&CoapClient::m_burstRequests),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("SendUntil", "No new request after this time; outstanding ones still finish.",
                          TimeValue(Time::Max()), MakeTimeAccessor(&CoapClient::m_sendUntil), MakeTimeChecker())
            .AddTraceSource("ExchangeStarted", "A request was handed to the engine.",
                            MakeTraceSourceAccessor(&CoapClient::m_startedTrace),
                            "ns3::CoapClient::ExchangeStartedCallback")
            .AddTraceSource("ExchangeCompleted", "A response arrived.",
                            MakeTraceSourceAccessor(&CoapClient::m_completedTrace),
                            "ns3::CoapClient::ExchangeCompletedCallback")
            .AddTraceSource("ExchangeFailed", "A request ended without a response.",
                            MakeTraceSourceAccessor(&CoapClient::m_failedTrace),
                            "ns3::CoapClient::ExchangeFailedCallback")
            .AddTraceSource("Done", "No more requests will be sent and none is outstanding.",
                            MakeTraceSourceAccessor(&CoapClient::m_doneTrace), "ns3::CoapClient::DoneCallback");
    return tid;
}

CoapClient::CoapClient() = default;
CoapClient::~CoapClient() = default;

void CoapClient::StartApplication() {
    CoapApplication::StartApplication();
    TrackRto(ToPeer(m_remote));
    if (m_arrival == "on-off") {
        // Start in the stationary state: on with probability on / (on + off).
        const double on = m_onMean.GetSeconds(), off = m_offMean.GetSeconds();
        m_on = m_workloadStream->GetValue(0.0, 1.0) * (on + off) < on;
        m_periodEnd = Simulator::Now() + Exponential(m_on ? m_onMean : m_offMean);
    }
    if (m_burstRequests > 0 && m_burstAt >= Simulator::Now()) {
        m_burstPending = true;
        m_burstEvent = Simulator::Schedule(m_burstAt - Simulator::Now(), &CoapClient::SendBurst, this);
    }
    // Spread the clients' first requests over one interval so they do not start in step.
    const double first = m_spread ? m_workloadStream->GetValue(0.0, std::max(m_interval.GetSeconds(), 1e-9)) : 0.0;
    ScheduleNext(Seconds(first));
}

void CoapClient::StopApplication() {
    Simulator::Cancel(m_sendEvent);
    Simulator::Cancel(m_observeEnd);
    Simulator::Cancel(m_burstEvent);
    CoapApplication::StopApplication();
}

std::string CoapClient::NextPath() {
    if (m_resources == 0) return m_path;
    if (m_zipfCdf.size() != m_resources) {
        m_zipfCdf.resize(m_resources);
        double sum = 0;
        for (uint32_t k = 0; k < m_resources; ++k) m_zipfCdf[k] = sum += std::pow(k + 1.0, -m_zipf);
        for (double& c : m_zipfCdf) c /= sum;
    }
    const double u = m_workloadStream->GetValue(0.0, 1.0);
    const auto k = static_cast<std::size_t>(std::lower_bound(m_zipfCdf.begin(), m_zipfCdf.end(), u) - m_zipfCdf.begin());
    return m_path + "/" + std::to_string(std::min<std::size_t>(k, m_resources - 1));
}

bool CoapClient::MaySend() const {
    if (m_stopped) return false;
    if (m_maxRequests != 0 && m_issued >= m_maxRequests) return false;
    return Simulator::Now() < m_sendUntil;
}

Time CoapClient::NextGap() {
    if (m_arrival != "poisson") return m_interval;
    return Exponential(m_interval);
}

Time CoapClient::Exponential(Time mean) {
    return Seconds(-mean.GetSeconds() * std::log(1.0 - m_workloadStream->GetValue(0.0, 1.0)));
}

Time CoapClient::NextOnTime(Time t) {
    for (;;) {
        while (t >= m_periodEnd) {
            m_on = !m_on;
            m_periodEnd += Exponential(m_on ? m_onMean : m_offMean);
        }
        if (m_on) return t;
        t = m_periodEnd;  // the next request waits for the next on period
    }
}

void CoapClient::ScheduleNext(Time after) {
    Simulator::Cancel(m_sendEvent);
    if (m_arrival == "on-off") after = NextOnTime(Simulator::Now() + after) - Simulator::Now();
    if (Simulator::Now() + after >= m_sendUntil) {
        // The next request would fall after SendUntil: none follows.
        m_stopped = true;
        CheckDone();
        return;
    }
    m_sendEvent = Simulator::Schedule(after, &CoapClient::SendRequest, this);
}

void CoapClient::SendRequest() {
    if (!HasEngine() || !MaySend()) {
        CheckDone();
        return;
    }
    const bool ok = IssueRequest(false);
    if (m_arrival == "poisson" || !ok) ScheduleNext(NextGap());
    Drive();
    CheckDone();
}

void CoapClient::SendBurst() {
    m_burstPending = false;
    for (uint32_t k = 0; HasEngine() && k < m_burstRequests; ++k) (void)IssueRequest(true);
    if (HasEngine()) Drive();
    CheckDone();
}

bool CoapClient::IssueRequest(bool burst) {
    coap::Request req;
    const int detail = m_method == "POST" ? 2 : m_method == "PUT" ? 3 : m_method == "DELETE" ? 4 : m_method == "FETCH" ? 5 : 1;
    req.method = coap::Code::make(0, static_cast<std::uint8_t>(detail));
    req.confirmable = m_confirmable;
    req.observe = m_observe;
    const std::string path = NextPath();
    if (m_proxyUri.empty()) {
        req.path(path);
    } else {
        req.option(coap::options::kProxyUri, m_proxyUri + path);
    }
    req.payload.assign(m_requestSize, 0);
    for (uint32_t i = 0; i < m_requestSize; ++i) req.payload[i] = static_cast<std::uint8_t>('a' + i % 26);
    ++m_issued;
    const auto r = Engine().send_request(EngineNow(), ToPeer(m_remote), std::move(req));
    if (r.ok()) {
        ++m_started;
        m_recordOf[r.id] = m_records.size();
        Record rec;
        rec.started_s = Simulator::Now().GetSeconds();
        rec.burst = burst;
        m_records.push_back(rec);
        m_startedTrace(r.id);
    } else {
        ++m_rejected;
        NS_LOG_INFO("request refused: " << coap::to_string(r.error));
    }
    return r.ok();
}

void CoapClient::OnEngineEvent(const coap::Event& e) {
    if (e.kind == coap::EventKind::Notification) {  // RFC 7641: after the registration's response
        ++m_notifications;
        // The simulated /obs is one byte repeated, a digit per state (CoapServer): a body
        // with two values mixes the blocks of two states.
        const std::vector<std::uint8_t>& body = e.message.payload;
        if (std::any_of(body.begin(), body.end(), [&](std::uint8_t b) { return b != body.front(); })) ++m_mixed;
    }
    if (e.kind != coap::EventKind::Response && e.kind != coap::EventKind::RequestFailed) return;
    auto it = m_recordOf.find(e.id);
    if (it == m_recordOf.end()) return;
    Record& rec = m_records[it->second];
    m_recordOf.erase(it);
    rec.elapsed_s = e.elapsed.seconds_f();
    rec.retransmissions = e.retransmissions;
    if (e.kind == coap::EventKind::Response) {
        rec.completed = true;
        rec.response_bytes = e.message.payload.size();
        rec.token = e.message.token;
        static const std::string kForged = "forged";
        if (std::equal(e.message.payload.begin(), e.message.payload.end(), kForged.begin(), kForged.end())) ++m_forged;
        ++m_completed;
        m_completedTrace(e.id, NanoSeconds(e.elapsed.ns()), e.retransmissions);
    } else {
        rec.reason = std::string(coap::to_string(e.reason));
        ++m_failed;
        m_failedTrace(e.id, rec.reason);
    }
    // The closed loop's think time follows its own requests, not the burst's.
    if (m_arrival != "poisson" && !rec.burst) ScheduleNext(m_interval);
    CheckDone();
}

void CoapClient::CheckDone() {
    if (m_done || MaySend() || m_burstPending || GetOutstanding() != 0) return;
    if (m_observe && Simulator::Now() < m_sendUntil) {
        // An observer is busy until the end: its notifications keep coming.
        if (!m_observeEnd.IsRunning()) m_observeEnd = Simulator::Schedule(m_sendUntil - Simulator::Now(), &CoapClient::CheckDone, this);
        return;
    }
    m_done = true;
    m_doneTrace();
}

}  // namespace ns3
