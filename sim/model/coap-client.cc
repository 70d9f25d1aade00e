#include "coap-client.h"

#include <algorithm>
#include <cmath>

#include "ns3/address.h"
#include "ns3/boolean.h"
#include "ns3/log.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include "coap/codec/code.h"

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
            .AddAttribute("Arrival", "\"closed\" or \"poisson\".", StringValue("closed"),
                          MakeStringAccessor(&CoapClient::m_arrival), MakeStringChecker())
            .AddAttribute("Method", "GET, POST, PUT, DELETE or FETCH.", StringValue("GET"),
                          MakeStringAccessor(&CoapClient::m_method), MakeStringChecker())
            .AddAttribute("Path", "Uri-Path of the requests (no leading /).", StringValue("data"),
                          MakeStringAccessor(&CoapClient::m_path), MakeStringChecker())
            .AddAttribute("RequestSize", "Request body bytes (sent block-wise when larger than a block).",
                          UintegerValue(0), MakeUintegerAccessor(&CoapClient::m_requestSize),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("Confirmable", "Send CON (true) or NON (false) requests.", BooleanValue(true),
                          MakeBooleanAccessor(&CoapClient::m_confirmable), MakeBooleanChecker())
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
    // Spread the clients' first requests over one interval so they do not start in step.
    const double first = m_workloadStream->GetValue(0.0, std::max(m_interval.GetSeconds(), 1e-9));
    ScheduleNext(Seconds(first));
}

void CoapClient::StopApplication() {
    Simulator::Cancel(m_sendEvent);
    CoapApplication::StopApplication();
}

bool CoapClient::MaySend() const {
    if (m_stopped) return false;
    if (m_maxRequests != 0 && m_issued >= m_maxRequests) return false;
    return Simulator::Now() < m_sendUntil;
}

Time CoapClient::NextGap() {
    if (m_arrival != "poisson") return m_interval;
    const double u = m_workloadStream->GetValue(0.0, 1.0);
    return Seconds(-m_interval.GetSeconds() * std::log(1.0 - u));
}

void CoapClient::ScheduleNext(Time after) {
    Simulator::Cancel(m_sendEvent);
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
    coap::Request req;
    const int detail = m_method == "POST" ? 2 : m_method == "PUT" ? 3 : m_method == "DELETE" ? 4 : m_method == "FETCH" ? 5 : 1;
    req.method = coap::Code::make(0, static_cast<std::uint8_t>(detail));
    req.confirmable = m_confirmable;
    req.path(m_path);
    req.payload.assign(m_requestSize, 0);
    for (uint32_t i = 0; i < m_requestSize; ++i) req.payload[i] = static_cast<std::uint8_t>('a' + i % 26);
    ++m_issued;
    const auto r = Engine().send_request(EngineNow(), ToPeer(m_remote), std::move(req));
    if (r.ok()) {
        ++m_started;
        m_recordOf[r.id] = m_records.size();
        Record rec;
        rec.started_s = Simulator::Now().GetSeconds();
        m_records.push_back(rec);
        m_startedTrace(r.id);
    } else {
        ++m_rejected;
        NS_LOG_INFO("request refused: " << coap::to_string(r.error));
    }
    if (m_arrival == "poisson" || !r.ok()) ScheduleNext(NextGap());
    Drive();
    CheckDone();
}

void CoapClient::OnEngineEvent(const coap::Event& e) {
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
        static const std::string kForged = "forged";
        if (std::equal(e.message.payload.begin(), e.message.payload.end(), kForged.begin(), kForged.end())) ++m_forged;
        ++m_completed;
        m_completedTrace(e.id, NanoSeconds(e.elapsed.ns()), e.retransmissions);
    } else {
        rec.reason = std::string(coap::to_string(e.reason));
        ++m_failed;
        m_failedTrace(e.id, rec.reason);
    }
    if (m_arrival != "poisson") ScheduleNext(m_interval);
    CheckDone();
}

void CoapClient::CheckDone() {
    if (m_done || MaySend() || GetOutstanding() != 0) return;
    m_done = true;
    m_doneTrace();
}

}  // namespace ns3
