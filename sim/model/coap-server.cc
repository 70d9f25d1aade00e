#include "coap-server.h"

#include <cstdio>
#include <memory>

#include "ns3/boolean.h"
#include "ns3/integer.h"
#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include "coap/codec/code.h"
#include "coap/common/random.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "net/hmac.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("CoapServer");
NS_OBJECT_ENSURE_REGISTERED(CoapServer);

TypeId CoapServer::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::CoapServer")
            .SetParent<CoapApplication>()
            .SetGroupName("Applications")
            .AddConstructor<CoapServer>()
            .AddAttribute("Path", "Uri-Path of the served resource (no leading /).", StringValue("data"),
                          MakeStringAccessor(&CoapServer::m_path), MakeStringChecker())
            .AddAttribute("ResponseSize", "Response body bytes.", UintegerValue(64),
                          MakeUintegerAccessor(&CoapServer::m_responseSize), MakeUintegerChecker<uint32_t>())
            .AddAttribute("Resources", "Also serve Path/0 .. Path/(N-1) (as Path).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapServer::m_resources), MakeUintegerChecker<uint32_t>())
            .AddAttribute("MaxAge", "Max-Age of the Path responses in seconds (-1: no option, i.e. 60 s).",
                          IntegerValue(-1), MakeIntegerAccessor(&CoapServer::m_maxAge),
                          MakeIntegerChecker<int64_t>(-1, 4294967295LL))
            .AddAttribute("LargeSize", "Bytes of /large (0: no such resource).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapServer::m_largeSize), MakeUintegerChecker<uint32_t>())
            .AddAttribute("WellKnownSize", "About how many bytes /.well-known/core lists (0: none).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapServer::m_wellKnownSize), MakeUintegerChecker<uint32_t>())
            .AddAttribute("ObserveSize", "Bytes of the observable /obs (0: no such resource).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapServer::m_observeSize), MakeUintegerChecker<uint32_t>())
            .AddAttribute("ObserveEtag",
                          "/obs responses carry an ETag naming the state (RFC 7252 §5.10.6), so that an observer "
                          "fetching a notification's blocks sees a change (RFC 7959 §2.4, §2.6).",
                          BooleanValue(false), MakeBooleanAccessor(&CoapServer::m_observeEtag), MakeBooleanChecker())
            .AddAttribute("NotifyInterval", "How often /obs changes (a notification to every observer).",
                          TimeValue(Seconds(5)), MakeTimeAccessor(&CoapServer::m_notifyInterval), MakeTimeChecker())
            .AddAttribute("DedupCapacity", "De-duplication entries (RFC 7252 §4.5); 0: the engine's default.",
                          UintegerValue(0), MakeUintegerAccessor(&CoapServer::m_dedupCapacity),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("MaxObservers", "Observers per resource (RFC 7641).", UintegerValue(32),
                          MakeUintegerAccessor(&CoapServer::m_maxObservers), MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("Echo", "Defence: 4.01 + Echo instead of large responses to unverified addresses (RFC 9175).",
                          BooleanValue(false), MakeBooleanAccessor(&CoapServer::m_echo), MakeBooleanChecker())
            .AddAttribute("AmplificationLimit", "Defence: bytes to an unverified address per byte from it (0: none).",
                          DoubleValue(0), MakeDoubleAccessor(&CoapServer::m_amplificationLimit),
                          MakeDoubleChecker<double>(0))
            .AddAttribute("RateLimit", "Defence: requests per second per address (0: none).", DoubleValue(0),
                          MakeDoubleAccessor(&CoapServer::m_rateLimit), MakeDoubleChecker<double>(0))
            .AddAttribute("ObserveVerifiedOnly", "Defence: only verified addresses may observe.", BooleanValue(false),
                          MakeBooleanAccessor(&CoapServer::m_observeVerifiedOnly), MakeBooleanChecker())
            .AddAttribute("Multicast", "/large, /.well-known/core and /obs answer requests sent to a group.",
                          BooleanValue(false), MakeBooleanAccessor(&CoapServer::m_multicast), MakeBooleanChecker())
            .AddAttribute("EchoKeySeed", "Seed of the Echo HMAC key (a run is reproducible from its seeds).",
                          UintegerValue(1), MakeUintegerAccessor(&CoapServer::m_echoKeySeed),
                          MakeUintegerChecker<uint64_t>());
    return tid;
}

CoapServer::CoapServer() = default;

uint16_t CoapServer::DefaultPort() const { return 5683; }  // RFC 7252 §6.1

CoapServer::~CoapServer() = default;

void CoapServer::ConfigureEngine(coap::EndpointConfig& config) {
    auto& d = config.defences;
    d.echo = m_echo;
    if (m_echo) {
        std::vector<std::uint8_t> key(32);
        coap::Xoshiro256 rng(m_echoKeySeed);
        rng.fill(key.data(), key.size());
        d.echo_key = std::make_shared<coapbed::net::HmacSha256>(std::move(key));
    }
    d.amplification_limit = m_amplificationLimit;
    d.rate_limit = m_rateLimit;
    d.observe_verified_only = m_observeVerifiedOnly;
    config.max_observers_per_resource = m_maxObservers;
    if (m_dedupCapacity > 0) config.dedup_capacity = m_dedupCapacity;
}

void CoapServer::StopApplication() {
    Simulator::Cancel(m_notifyEvent);
    CoapApplication::StopApplication();
}

void CoapServer::Notify() {
    ++m_obsValue;
    Engine().notify(EngineNow(), "obs");
    Drive();
    m_notifyEvent = Simulator::Schedule(m_notifyInterval, &CoapServer::Notify, this);
}

void CoapServer::OnEngineCreated(coap::Endpoint& endpoint) {
    coap::ResourceConfig rc;
    rc.methods = coap::methods::kAll;
    rc.handler = [this](const coap::IncomingRequest& req) -> coap::HandlerResult {
        ++m_served;
        coap::Response r;
        const auto detail = req.method.detail();
        // RFC 7252 §5.8: 2.05 for GET/FETCH, 2.04 for POST/PUT, 2.02 for DELETE.
        r.code = detail == 4 ? coap::Code::make(2, 2) : (detail == 2 || detail == 3) ? coap::Code::make(2, 4)
                                                                                      : coap::Code::make(2, 5);
        r.payload.resize(m_responseSize);
        for (uint32_t i = 0; i < m_responseSize; ++i) r.payload[i] = static_cast<std::uint8_t>('A' + i % 26);
        r.content_format = 42;  // application/octet-stream
        if (m_maxAge >= 0) r.max_age = static_cast<std::uint32_t>(m_maxAge);
        return r;
    };
    for (uint32_t k = 0; k < m_resources; ++k) {
        const auto e = endpoint.add_resource(m_path + "/" + std::to_string(k), rc);
        NS_ABORT_MSG_IF(e != coap::ApiError::Ok, "CoapServer: cannot add resource " << m_path << "/" << k);
    }
    auto err = endpoint.add_resource(m_path, std::move(rc));
    NS_ABORT_MSG_IF(err != coap::ApiError::Ok, "CoapServer: cannot add resource " << m_path);
    auto fixed = [this](std::vector<std::uint8_t> body, std::uint16_t format) {
        coap::ResourceConfig r;
        r.multicast = m_multicast;
        r.handler = [body = std::move(body), format](const coap::IncomingRequest&) -> coap::HandlerResult {
            coap::Response resp;
            resp.payload = body;
            resp.content_format = format;
            return resp;
        };
        return r;
    };
    if (m_largeSize > 0) {
        err = endpoint.add_resource("large", fixed(std::vector<std::uint8_t>(m_largeSize, 'L'), 42));
    }
    if (m_wellKnownSize > 0) {
        // RFC 6690 link format, sensor entries until about WellKnownSize bytes.
        std::string links;
        for (int i = 1; links.size() < m_wellKnownSize; ++i) {
            char entry[96];
            std::snprintf(entry, sizeof entry, "%s</sensors/s%04d>;rt=\"temperature-c\";if=\"sensor\";ct=0", i > 1 ? "," : "", i);
            links += entry;
        }
        err = endpoint.add_resource(".well-known/core", fixed(std::vector<std::uint8_t>(links.begin(), links.end()), 40));
    }
    if (m_observeSize > 0) {
        coap::ResourceConfig obs;
        obs.observable = true;
        obs.multicast = m_multicast;
        obs.handler = [this](const coap::IncomingRequest&) -> coap::HandlerResult {
            coap::Response resp;
            resp.payload.assign(m_observeSize, static_cast<std::uint8_t>('0' + m_obsValue % 10));
            if (m_observeEtag) {  // the state's number, 1-8 bytes (RFC 7252 §5.10.6: never empty)
                resp.options.push_back(coap::OwnedOption{coap::options::kETag, coap::encode_uint(std::uint64_t{m_obsValue} + 1)});
            }
            return resp;
        };
        err = endpoint.add_resource("obs", std::move(obs));
        m_notifyEvent = Simulator::Schedule(m_notifyInterval, &CoapServer::Notify, this);
    }
}

}  // namespace ns3
