#include "coap/options/check.h"

#include "coap/options/registry.h"

namespace coap {

std::string_view to_string(OptionProblem p) noexcept {
    switch (p) {
        case OptionProblem::None: return "none";
        case OptionProblem::Unrecognized: return "unrecognized";
        case OptionProblem::BadLength: return "bad-length";
        case OptionProblem::Repeated: return "repeated";
    }
    return "unknown";
}

bool RecognizedOptions::add(std::uint16_t number) noexcept {
    if (contains(number)) return true;
    if (count_ == kCapacity) return false;
    numbers_[count_++] = number;
    return true;
}

RecognizedOptions RecognizedOptions::registered_except(std::initializer_list<std::uint16_t> numbers) noexcept {
    RecognizedOptions r(true);
    for (std::uint16_t n : numbers) {
        if (r.excluded_count_ < r.excluded_.size()) r.excluded_[r.excluded_count_++] = n;
    }
    return r;
}

bool RecognizedOptions::contains(std::uint16_t number) const noexcept {
    return contains(number, all_registered_ ? find_option(number) : nullptr);
}

bool RecognizedOptions::contains(std::uint16_t number, const OptionInfo* info) const noexcept {
    if (all_registered_ && info != nullptr) {
        for (std::size_t i = 0; i < excluded_count_; ++i) {
            if (excluded_[i] == number) return false;
        }
        return true;
    }
    for (std::size_t i = 0; i < count_; ++i) {
        if (numbers_[i] == number) return true;
    }
    return false;
}

OptionCheck check_options(const MessageView& m, const RecognizedOptions& recognized) noexcept {
    OptionCheck result;
    std::uint16_t previous = 0;
    bool have_previous = false;
    for (std::size_t i = 0; i < m.option_count(); ++i) {
        const Option o = m.option(i);
        OptionProblem problem = OptionProblem::None;
        const OptionInfo* info = find_option(o.number);
        if (!recognized.contains(o.number, info)) {
            problem = OptionProblem::Unrecognized;  // RFC 7252 §5.4.1
        } else if (info != nullptr &&
                   (o.value.size() < info->min_length || o.value.size() > info->max_length)) {
            problem = OptionProblem::BadLength;  // RFC 7252 §5.4.3
        } else if (info != nullptr && !info->repeatable && have_previous && previous == o.number) {
            problem = OptionProblem::Repeated;  // RFC 7252 §5.4.5
        }
        previous = o.number;
        have_previous = true;
        if (problem == OptionProblem::None) continue;
        if (!is_critical(o.number)) {
            result.ignored_mask |= std::uint64_t{1} << i;  // RFC 7252 §5.4.1: elective, ignore
            continue;
        }
        // RFC 7252 §5.4.1: critical and unrecognized. 4.02 only for a CON request; a
        // response (CON, or piggybacked in an ACK) and a NON message are rejected.
        const bool con_request = m.code().is_request() && m.type() == MessageType::Con;
        result.verdict = con_request ? OptionVerdict::RespondBadOption : OptionVerdict::Reject;
        result.number = o.number;
        result.problem = problem;
        return result;
    }
    return result;
}

OptionCheck check_options(const MessageView& m) noexcept {
    return check_options(m, RecognizedOptions::registered());
}

}  // namespace coap
