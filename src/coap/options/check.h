// The checks a receiver makes on a message's options (RFC 7252 §5.4.1-§5.4.5).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "coap/codec/message_view.h"

namespace coap {

/// The set of option numbers a receiver implements. By default every registered option
/// (see registry.h); an application that implements fewer says so, and the rest become
/// "unrecognized" in the sense of RFC 7252 §5.4.1. Bounded: at most kCapacity numbers.
struct OptionInfo;

class RecognizedOptions {
public:
    static constexpr std::size_t kCapacity = 64;
    /// Every option in the registry.
    [[nodiscard]] static RecognizedOptions registered() noexcept { return RecognizedOptions(true); }
    /// Every option in the registry but `numbers`: registered options the receiver does
    /// not implement (OSCORE without a security context, Q-Block without RFC 9177, ...).
    /// At most 8 numbers (API misuse beyond: the rest stay recognized).
    [[nodiscard]] static RecognizedOptions registered_except(std::initializer_list<std::uint16_t> numbers) noexcept;
    /// Exactly the numbers added with `add`.
    [[nodiscard]] static RecognizedOptions none() noexcept { return RecognizedOptions(false); }
    /// Adds a number; false when kCapacity numbers are already held (API misuse).
    [[nodiscard]] bool add(std::uint16_t number) noexcept;
    [[nodiscard]] bool contains(std::uint16_t number) const noexcept;
    /// The same, given `find_option(number)` (one registry lookup where both are needed).
    [[nodiscard]] bool contains(std::uint16_t number, const OptionInfo* info) const noexcept;

private:
    explicit RecognizedOptions(bool all) noexcept : all_registered_(all) {}
    bool all_registered_;
    std::size_t excluded_count_ = 0;
    std::array<std::uint16_t, 8> excluded_{};
    std::size_t count_ = 0;
    std::array<std::uint16_t, kCapacity> numbers_{};
};

/// What the receiver must do with the message as a whole.
enum class OptionVerdict : std::uint8_t {
    Accept,           ///< process it, ignoring the options flagged in `ignored_mask`
    RespondBadOption, ///< a Confirmable request: answer 4.02 Bad Option (§5.4.1)
    Reject,           ///< a response, or a Non-confirmable message: reject it (§4.2, §4.3)
};

/// Why an option is treated as unrecognized.
enum class OptionProblem : std::uint8_t {
    None,
    Unrecognized,   ///< not in the receiver's set (§5.4.1)
    BadLength,      ///< value length outside the registered bounds (§5.4.3)
    Repeated,       ///< a supernumerary occurrence of a non-repeatable option (§5.4.5)
};
[[nodiscard]] std::string_view to_string(OptionProblem p) noexcept;

struct OptionCheck {
    OptionVerdict verdict = OptionVerdict::Accept;
    /// For RespondBadOption / Reject: the first critical option that caused it.
    std::uint16_t number = 0;
    /// For RespondBadOption / Reject: why that option was treated as unrecognized.
    OptionProblem problem = OptionProblem::None;
    /// Bit i set: option i (wire order) is elective and unrecognized, to be silently
    /// ignored (§5.4.1). MessageView::kMaxOptions is 64, so 64 bits cover every option.
    std::uint64_t ignored_mask = 0;
};

/// Applies RFC 7252 §5.4.1-§5.4.5 to a parsed message:
/// - an option not in `recognized`, one whose length is outside its registered bounds
///   (§5.4.3), and each supernumerary occurrence of a non-repeatable option (§5.4.5) are
///   all "unrecognized";
/// - an unrecognized elective option is ignored (flagged in `ignored_mask`);
/// - an unrecognized critical option makes a CON request deserve 4.02 Bad Option, and
///   makes any response, and any NON message, be rejected (§5.4.1).
/// An option number the registry does not know has no bounds to check: it is
/// unrecognized unless the caller's set contains it.
[[nodiscard]] OptionCheck check_options(const MessageView& message,
                                        const RecognizedOptions& recognized) noexcept;
[[nodiscard]] OptionCheck check_options(const MessageView& message) noexcept;

}  // namespace coap
