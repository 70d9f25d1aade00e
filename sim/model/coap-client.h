// CoapClient: a workload generator on one engine Endpoint. Closed loop (the next
// request a think time after the previous one ended), open loop (Poisson arrivals;
// requests beyond NSTART wait in the engine's queue), or on-off (closed loop during
// exponential on periods, idle during exponential off periods). It records every exchange.
#ifndef COAPBED_COAP_CLIENT_H
#define COAPBED_COAP_CLIENT_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "coap-application.h"

namespace ns3 {

class CoapClient : public CoapApplication {
public:
    static TypeId GetTypeId();
    CoapClient();
    ~CoapClient() override;

    /// One request as the application saw it.
    struct Record {
        double started_s = 0;          ///< simulated time send_request was called
        double elapsed_s = 0;          ///< until the response or the failure (queueing included)
        bool completed = false;
        std::string reason;            ///< failure reason ("timeout", "reset", ...)
        uint32_t retransmissions = 0;  ///< all blocks together
        uint64_t response_bytes = 0;   ///< response body bytes delivered
        bool burst = false;            ///< one of the BurstRequests sent at BurstAt
        std::vector<std::uint8_t> token;  ///< the response's token (completed exchanges)
    };

    const std::vector<Record>& GetRecords() const { return m_records; }
    uint64_t GetStarted() const { return m_started; }
    uint64_t GetCompleted() const { return m_completed; }
    uint64_t GetFailed() const { return m_failed; }
    /// Requests the engine refused (its queue or exchange table was full).
    uint64_t GetRejected() const { return m_rejected; }
    /// Requests started and not yet ended.
    uint64_t GetOutstanding() const { return m_started - m_completed - m_failed; }
    bool IsDone() const { return m_done; }
    /// Responses whose body was an attacker's forgery ("forged", see CoapAttacker).
    uint64_t GetForgedAccepted() const { return m_forged; }
    /// Observe: notifications received after the registrations' responses.
    uint64_t GetNotifications() const { return m_notifications; }
    /// Observe: of those, bodies that mix two states of the simulated /obs (its blocks
    /// fetched across a change the client could not see).
    uint64_t GetMixedNotifications() const { return m_mixed; }

    typedef void (*ExchangeStartedCallback)(uint64_t id);
    typedef void (*ExchangeCompletedCallback)(uint64_t id, Time elapsed, uint32_t retransmissions);
    typedef void (*ExchangeFailedCallback)(uint64_t id, std::string reason);
    typedef void (*DoneCallback)();

protected:
    void StartApplication() override;
    void StopApplication() override;
    void OnEngineEvent(const coap::Event& event) override;

private:
    void SendRequest();
    /// Hands one request to the engine; false if it refused it.
    bool IssueRequest(bool burst);
    /// BurstRequests requests at once (a "global event"), beside the periodic load.
    void SendBurst();
    void ScheduleNext(Time after);
    Time NextGap();
    Time Exponential(Time mean);
    /// on-off: `t` if it falls in an on period, else the start of the next one.
    Time NextOnTime(Time t);
    bool MaySend() const;
    void CheckDone();
    /// The Uri-Path of the next request: Path, or Path/k with k Zipf-distributed over Resources.
    std::string NextPath();

    Address m_remote;
    uint32_t m_maxRequests;
    Time m_interval;
    std::string m_arrival;
    std::string m_method;
    std::string m_path;
    uint32_t m_requestSize;
    bool m_confirmable;
    bool m_spread = true;
    Time m_onMean, m_offMean;  ///< on-off periods
    bool m_on = true;
    Time m_periodEnd;
    Time m_sendUntil;
    std::string m_proxyUri;     ///< non-empty: requests go to RemoteAddress (a proxy) with Proxy-Uri = this + path
    uint32_t m_resources = 0;   ///< 0: always Path
    double m_zipf = 0.8;
    std::vector<double> m_zipfCdf;

    Time m_burstAt;
    uint32_t m_burstRequests = 0;
    bool m_burstPending = false;

    EventId m_sendEvent;
    EventId m_burstEvent;
    uint64_t m_issued = 0;
    uint64_t m_started = 0, m_completed = 0, m_failed = 0, m_rejected = 0;
    bool m_done = false;
    bool m_stopped = false;
    uint64_t m_forged = 0;
    bool m_observe = false;
    EventId m_observeEnd;  ///< Observe: Done at SendUntil
    uint64_t m_notifications = 0;
    uint64_t m_mixed = 0;
    std::vector<Record> m_records;
    std::map<uint64_t, std::size_t> m_recordOf;  ///< engine request id -> index in m_records

    TracedCallback<uint64_t> m_startedTrace;
    TracedCallback<uint64_t, Time, uint32_t> m_completedTrace;
    TracedCallback<uint64_t, std::string> m_failedTrace;
    TracedCallback<> m_doneTrace;
};

}  // namespace ns3

#endif
