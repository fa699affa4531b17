/// GBNF for the decimal integers between two bounds, built digit by digit after llama.cpp's
/// `build_min_max_int`. A grammar cannot compare numbers; it can only say, per digit position,
/// which digits may follow, so a range becomes one alternative per length and per leading digit
/// that differs from a bound.
///
/// The language is exact: every integer in range in JSON's spelling (no leading zeros, no "+", no
/// `-0`), with at most 16 digits when there is no upper bound, and nothing else. Where llama.cpp's
/// grammar is exact this writes the same alternatives in the same order, so the text matches; it
/// departs where llama.cpp's is not (each place says how): it admits `-0` when a range crosses
/// zero, digits after a zero in a lower bound are lost (1098 under a minimum of 1099), a negative
/// maximum admits leading zeros (`-01` under -5), and a 16-digit minimum gives `{16,15}`.
enum IntegerRangeGrammar {
    /// The body of a rule accepting exactly the integers in `minimum...maximum` (nil: unbounded
    /// on that side; at least one bound is given), in JSON's spelling (no leading zeros, no "+").
    static func body(minimum: Int64?, maximum: Int64?) -> String {
        var writer = Writer()
        writer.range(minimum: minimum, maximum: maximum)
        return "(" + writer.out + ")"
    }

    /// Longest integer written without an upper bound (llama.cpp's cap).
    static let maxDigits = 16

    private struct Writer {
        var out = ""
        /// `maxDigits`, named apart from `moreDigits`' parameter.
        let cap = IntegerRangeGrammar.maxDigits

        mutating func digitRange(_ from: UInt8, _ to: UInt8) {
            out += "["
            out.unicodeScalars.append(Unicode.Scalar(from))
            if from != to {
                out += "-"
                out.unicodeScalars.append(Unicode.Scalar(to))
            }
            out += "]"
        }

        /// `[0-9]` repeated between `minDigits` and `maxDigits` times (`Int.max`: no upper bound).
        mutating func moreDigits(_ minDigits: Int, _ maxDigits: Int) {
            out += "[0-9]"
            if minDigits == maxDigits && minDigits == 1 { return }
            out += "{\(minDigits)"
            if maxDigits != minDigits {
                out += ","
                if maxDigits != Int.max { out += "\(maxDigits)" }
            }
            out += "}"
        }

        /// Numbers from `from` to `to`, both written with the same number of digits.
        mutating func uniformRange(_ from: ArraySlice<UInt8>, _ to: ArraySlice<UInt8>) {
            let from = Array(from)
            let to = Array(to)
            var i = 0
            while i < from.count && i < to.count && from[i] == to[i] { i += 1 }
            if i > 0 { out += "\"" + String(decoding: from[0..<i], as: UTF8.self) + "\"" }
            guard i < from.count && i < to.count else { return }
            if i > 0 { out += " " }
            let subLength = from.count - i - 1
            guard subLength > 0 else {
                digitRangeAlways(from[i], to[i])
                return
            }
            let fromRest = from[(i + 1)...]
            let toRest = to[(i + 1)...]
            let zeros = [UInt8](repeating: UInt8(ascii: "0"), count: subLength)
            let nines = [UInt8](repeating: UInt8(ascii: "9"), count: subLength)
            var toReached = false
            out += "("
            if Array(fromRest) == zeros {
                digitRange(from[i], to[i] - 1)
                out += " "
                moreDigits(subLength, subLength)
            } else {
                out += "["
                out.unicodeScalars.append(Unicode.Scalar(from[i]))
                out += "] ("
                uniformRange(fromRest, nines[...])
                out += ")"
                if from[i] < to[i] - 1 {
                    out += " | "
                    if Array(toRest) == nines {
                        digitRange(from[i] + 1, to[i])
                        toReached = true
                    } else {
                        digitRange(from[i] + 1, to[i] - 1)
                    }
                    out += " "
                    moreDigits(subLength, subLength)
                }
            }
            if !toReached {
                out += " | "
                digitRange(to[i], to[i])
                out += " "
                uniformRange(zeros[...], toRest)
            }
            out += ")"
        }

        /// The last digit's range, always written as `[a-b]` (llama.cpp does not shorten it).
        mutating func digitRangeAlways(_ from: UInt8, _ to: UInt8) {
            out += "["
            out.unicodeScalars.append(Unicode.Scalar(from))
            out += "-"
            out.unicodeScalars.append(Unicode.Scalar(to))
            out += "]"
        }

        /// Every integer in `minimum...maximum` (nil: unbounded on that side). A negative number is
        /// "-" and a magnitude of at least 1: llama.cpp's magnitude range starts at 0 when the
        /// range crosses zero, so it admits `-0`, which the number path refuses too.
        mutating func range(minimum: Int64?, maximum: Int64?) {
            switch (minimum, maximum) {
            case (let low?, let high?):
                if high < 0 {
                    negated { $0.closedRange(-high, -low) }
                } else if low < 0 {
                    negated { $0.closedRange(1, -low) }
                    out += " | "
                    closedRange(0, high)
                } else {
                    closedRange(low, high)
                }
            case (let low?, nil):
                if low < 0 {
                    negated { $0.closedRange(1, -low) }
                    out += " | "
                    atLeast(0)
                } else {
                    atLeast(low)
                }
            case (nil, let high?):
                if high < 0 {
                    // llama.cpp writes the magnitude with its inner (leading-zero) form here, so
                    // its "maximum: -5" admits "-01"; the magnitude is a plain number at least -high.
                    negated { $0.atLeast(-high) }
                } else {
                    out += "\"-\" [1-9] "
                    moreDigits(0, cap - 1)
                    out += " | "
                    closedRange(0, high)
                }
            case (nil, nil):
                negated { $0.atLeast(1) }
                out += " | "
                atLeast(0)
            }
        }

        mutating func negated(_ magnitude: (inout Writer) -> Void) {
            out += "\"-\" ("
            magnitude(&self)
            out += ")"
        }

        /// The integers `low...high` (0 <= low <= high), one `uniformRange` per length.
        mutating func closedRange(_ low: Int64, _ high: Int64) {
            var lowDigits = Array(String(low).utf8)
            let highDigits = Array(String(high).utf8)
            for digits in lowDigits.count..<highDigits.count {
                uniformRange(lowDigits[...], [UInt8](repeating: UInt8(ascii: "9"), count: digits)[...])
                lowDigits = [UInt8(ascii: "1")] + [UInt8](repeating: UInt8(ascii: "0"), count: digits)
                out += " | "
            }
            uniformRange(lowDigits[...], highDigits[...])
        }

        /// The integers from `low` (>= 0, at most `maxDigits` digits) up, written without leading
        /// zeros and with at most `maxDigits` digits.
        mutating func atLeast(_ low: Int64) {
            let digits = Array(String(low).utf8)
            let first = digits[0]
            if low == 0 {
                out += "[0] | [1-9] "
                moreDigits(0, cap - 1)
                return
            }
            if digits.count == 1 {
                if first > UInt8(ascii: "1") {
                    digitRange(UInt8(ascii: "1"), first - 1)
                    out += " "
                    moreDigits(1, cap - 1)
                    out += " | "
                }
                digitRange(first, UInt8(ascii: "9"))
                out += " "
                moreDigits(0, cap - 1)
                return
            }
            // A smaller first digit needs a longer number (none when the bound is already as
            // long as allowed: llama.cpp writes the impossible `{16,15}` for a minimum of 2^53).
            if first > UInt8(ascii: "1") && digits.count < cap {
                digitRange(UInt8(ascii: "1"), first - 1)
                out += " "
                moreDigits(digits.count, cap - 1)
                out += " | "
            }
            digitRange(first, first)
            out += " ("
            tail(digits[1...], maxLength: cap - 1)
            out += ")"
            if first < UInt8(ascii: "9") {
                out += " | "
                digitRange(first + 1, UInt8(ascii: "9"))
                out += " "
                moreDigits(digits.count - 1, cap - 1)
            }
        }

        /// What may follow a prefix equal to a lower bound's leading digits, when the bound's
        /// remaining digits are `bound`: any digits making a longer number (up to `maxLength`), or
        /// exactly `bound.count` digits comparing at least `bound` digit by digit. Zeros count as
        /// digits here: llama.cpp instead reads the remaining digits as a number, so "099" became
        /// 99, a two-digit bound, and its "minimum: 1099" admitted 1098 and 1050.
        mutating func tail(_ bound: ArraySlice<UInt8>, maxLength: Int) {
            let first = bound[bound.startIndex]
            if bound.count == 1 {
                if first == UInt8(ascii: "0") {
                    moreDigits(1, maxLength)
                    return
                }
                if maxLength > 1 {
                    digitRange(UInt8(ascii: "0"), first - 1)
                    out += " "
                    moreDigits(1, maxLength - 1)
                    out += " | "
                }
                digitRange(first, UInt8(ascii: "9"))
                if maxLength > 1 {
                    out += " "
                    moreDigits(0, maxLength - 1)
                }
                return
            }
            // llama.cpp only writes this alternative for a first digit above 1, so below a bound
            // like 1123 it loses 10000..10999 (incomplete, not unsound).
            if first > UInt8(ascii: "0") && bound.count < maxLength {
                digitRange(UInt8(ascii: "0"), first - 1)
                out += " "
                moreDigits(bound.count, maxLength - 1)
                out += " | "
            }
            digitRange(first, first)
            out += " ("
            tail(bound.dropFirst(), maxLength: maxLength - 1)
            out += ")"
            if first < UInt8(ascii: "9") {
                out += " | "
                digitRange(first + 1, UInt8(ascii: "9"))
                out += " "
                moreDigits(bound.count - 1, maxLength - 1)
            }
        }
    }
}
