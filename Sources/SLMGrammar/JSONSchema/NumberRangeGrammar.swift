/// One end of a `"type": "number"` range: `minimum`/`maximum` (inclusive) or
/// `exclusiveMinimum`/`exclusiveMaximum`.
struct NumberBound {
    var value: ExactDecimal
    var isExclusive: Bool
}

/// GBNF for the JSON numbers between decimal bounds (llama.cpp ignores number bounds; this
/// enforces them exactly). A grammar cannot compare numbers, only say which digit may come next,
/// so the rule walks the digits of the bounds: while the number written so far equals a bound's
/// leading digits it stays "tight" to that bound and the next digit is limited by the bound's
/// next digit; once a digit differs, the rest is free. Each tight position adds one nested
/// group, so the rule grows with the number of digits in the bounds, not with their values.
///
/// The language is a subset of the values in range, chosen so that everything it accepts is in
/// range:
/// - no exponent (`1e2`): a bounded number is written as a plain decimal, which keeps the digit
///   walk exact;
/// - no minus on zero (`-0`, `-0.0`): the value is 0, but the model can write `0`, and a negative
///   sign then always means a value below zero, whatever the bounds;
/// - runs of free digits are capped (as llama.cpp's number rule caps its parts at 16 digits), so
///   a model cannot write digits forever: every in-range decimal with up to 16 integral digits and
///   up to 16 fraction digits past the bounds' own is accepted.
/// Trailing zeros in the fraction (`1.50`, `1.000` under a maximum of 1) are accepted: they do
/// not change the value.
enum NumberRangeGrammar {
    /// Longest run of digits the grammar leaves free (the cap of llama.cpp's `decimal-part`).
    static let freeDigits = 16
    /// Longest integral part written without an upper bound (llama.cpp's `integral-part` cap).
    static let maxIntegralDigits = 16

    /// The body of a rule accepting the numbers between `minimum` and `maximum` (nil: unbounded on
    /// that side, at least one given). The caller has checked that some number lies between them.
    static func body(minimum: NumberBound?, maximum: NumberBound?) -> String {
        var alternatives: [String] = []
        // A negative number is "-" and a magnitude m > 0 with -m in range, that is m in
        // [-maximum, -minimum] with the bounds' exclusivity swapped over.
        if minimum.map({ $0.value.isNegative }) ?? true {
            let low: NumberBound
            if let maximum, maximum.value.isNegative {
                low = NumberBound(value: -maximum.value, isExclusive: maximum.isExclusive)
            } else {
                low = NumberBound(value: .zero, isExclusive: true)
            }
            let high = minimum.map { NumberBound(value: -$0.value, isExclusive: $0.isExclusive) }
            let negative = magnitudes(low: low, high: high)
            if negative.count == 1 {
                alternatives.append(#""-" "# + negative[0])
            } else if !negative.isEmpty {
                alternatives.append(#""-" ("# + negative.joined(separator: " | ") + ")")
            }
        }
        if maximum.map({ !$0.value.isNegative }) ?? true {
            let low = minimum.flatMap { $0.value.isNegative ? nil : $0 } ?? NumberBound(value: .zero, isExclusive: false)
            alternatives += magnitudes(low: low, high: maximum)
        }
        return alternatives.joined(separator: " | ")
    }

    /// Alternatives for the unsigned numbers from `low` up to `high` (nil: no upper end), both
    /// non-negative. An integral part strictly between the bounds' integral parts takes any
    /// fraction; one equal to a bound's integral part leaves the fraction to the digit walk.
    private static func magnitudes(low: NumberBound, high: NumberBound?) -> [String] {
        let lowIntegral = low.value.integralDigits
        var alternatives: [String] = []
        func append(integral: String, fraction: String?) {
            guard let fraction else { return }
            alternatives.append(fraction.isEmpty ? integral : integral + " " + fraction)
        }
        // Bounds are within ±2^53, so their integral parts fit Int64 and IntegerRangeGrammar
        // writes the integers between them.
        let lowInteger = low.value.integralValue ?? 0
        guard let high else {
            append(integral: literal(lowIntegral), fraction: fraction(low: low, high: nil))
            append(integral: integers(from: lowInteger + 1), fraction: fraction(low: nil, high: nil))
            return alternatives
        }
        let highIntegral = high.value.integralDigits
        if lowIntegral == highIntegral {
            append(integral: literal(lowIntegral), fraction: fraction(low: low, high: high))
            return alternatives
        }
        let highInteger = high.value.integralValue ?? 0
        append(integral: literal(lowIntegral), fraction: fraction(low: low, high: nil))
        if lowInteger + 1 <= highInteger - 1 {
            append(
                integral: IntegerRangeGrammar.body(minimum: lowInteger + 1, maximum: highInteger - 1),
                fraction: fraction(low: nil, high: nil))
        }
        append(integral: literal(highIntegral), fraction: fraction(low: nil, high: high))
        return alternatives
    }

    /// Integral parts from `minimum` (at least 1) up, with at most 16 digits as llama.cpp's
    /// `integral-part`: the bound's own length is a closed range of IntegerRangeGrammar and longer
    /// integers are free. (Written before IntegerRangeGrammar's open-ended form was made exact;
    /// both are, and this one keeps the number grammars' text unchanged.)
    private static func integers(from minimum: Int64) -> String {
        let length = String(minimum).utf8.count
        var smallestOfLength: Int64 = 1
        for _ in 1..<length { smallestOfLength *= 10 }
        if minimum == smallestOfLength { return "[1-9] [0-9]{\(length - 1),\(maxIntegralDigits - 1)}" }
        let largestOfLength = smallestOfLength * 10 - 1
        var alternatives = [IntegerRangeGrammar.body(minimum: minimum, maximum: largestOfLength)]
        if length < maxIntegralDigits { alternatives.append("[1-9] [0-9]{\(length),\(maxIntegralDigits - 1)}") }
        return alternatives.count == 1 ? alternatives[0] : "(" + alternatives.joined(separator: " | ") + ")"
    }

    private static func literal(_ digits: [UInt8]) -> String {
        "\"" + String(decoding: digits, as: UTF8.self) + "\""
    }

    /// The digits after the point that one may write, as a set of alternatives (each writing at
    /// least one digit) and whether writing none is also allowed.
    private struct DigitRun {
        var alternatives: [String]
        var allowsNone: Bool
        /// The run with "none" folded in, when one repetition says it (`[0-9]{0,16}` rather than
        /// `([0-9]{1,16})?`).
        var optionalForm: String?

        static let impossible = DigitRun(alternatives: [], allowsNone: false, optionalForm: nil)

        var isImpossible: Bool { alternatives.isEmpty && !allowsNone }

        /// The alternatives that write at least one digit, as one GBNF expression.
        var atLeastOneDigit: String {
            alternatives.count == 1 ? alternatives[0] : "(" + alternatives.joined(separator: " | ") + ")"
        }

        /// As a GBNF expression ("" when only the empty run is allowed).
        var expression: String {
            if alternatives.isEmpty { return "" }
            if !allowsNone { return atLeastOneDigit }
            if let optionalForm { return optionalForm }
            return "(" + alternatives.joined(separator: " | ") + ")?"
        }
    }

    /// The fraction part (point and digits, or nothing) for a number whose integral part equals
    /// that of `low` and/or `high` (nil: not tight to that bound); nil when no fraction fits.
    private static func fraction(low: NumberBound?, high: NumberBound?) -> String? {
        let digits = fractionDigits(from: 0, low: low, high: high)
        if digits.isImpossible { return nil }
        if digits.alternatives.isEmpty { return "" }
        // "." must be followed by a digit, so "no digits" is written as no point at all.
        let body = #""." "# + digits.atLeastOneDigit
        return digits.allowsNone ? "(" + body + ")?" : body
    }

    /// Fraction digits from `position` on, given that those before it equal the bounds' own for
    /// each bound still given (tight).
    private static func fractionDigits(from position: Int, low: NumberBound?, high: NumberBound?) -> DigitRun {
        var low = low
        // Past an inclusive lower bound's last digit every continuation is at least the bound.
        if let bound = low, !bound.isExclusive, position >= bound.value.fractionDigits.count { low = nil }
        if let bound = high, position >= bound.value.fractionDigits.count {
            // Only zeros keep the value at the upper bound. A lower bound still tight here equals
            // the upper one, so only an inclusive pair (dropped just above) leaves anything.
            if bound.isExclusive || low != nil { return .impossible }
            return DigitRun(alternatives: ["[0]{1,\(freeDigits)}"], allowsNone: true, optionalForm: "[0]{0,\(freeDigits)}")
        }
        if let bound = low, high == nil, position >= bound.value.fractionDigits.count {
            // Equal to an exclusive lower bound so far: some later digit must be non-zero.
            return DigitRun(alternatives: ["[0]{0,\(freeDigits - 1)} [1-9] [0-9]{0,\(freeDigits)}"], allowsNone: false, optionalForm: nil)
        }
        if low == nil && high == nil {
            return DigitRun(alternatives: ["[0-9]{1,\(freeDigits)}"], allowsNone: true, optionalForm: "[0-9]{0,\(freeDigits)}")
        }

        // Stopping here leaves the value equal to the digits so far, below a tight lower bound
        // (it has a non-zero digit to come, or is exclusive) and below a tight upper one.
        var run = DigitRun(alternatives: [], allowsNone: low == nil, optionalForm: nil)
        let lowDigit = low?.value.fractionDigit(position)
        let highDigit = high?.value.fractionDigit(position)
        func follow(_ digit: UInt8, _ rest: DigitRun) {
            if rest.isImpossible { return }
            let head = "[" + String(Unicode.Scalar(digit)) + "]"
            run.alternatives.append(rest.alternatives.isEmpty ? head : head + " " + rest.expression)
        }
        if let lowDigit, lowDigit == highDigit {
            follow(lowDigit, fractionDigits(from: position + 1, low: low, high: high))
            return run
        }
        if let lowDigit { follow(lowDigit, fractionDigits(from: position + 1, low: low, high: nil)) }
        // ASCII digits: below "0" and above "9" are other characters, so "9" + 1 and "0" - 1
        // just make an empty range.
        let freeFrom = lowDigit.map { $0 + 1 } ?? UInt8(ascii: "0")
        let freeTo = highDigit.map { $0 - 1 } ?? UInt8(ascii: "9")
        if freeFrom <= freeTo {
            run.alternatives.append(digitClass(freeFrom, freeTo) + " [0-9]{0,\(freeDigits)}")
        }
        if let highDigit { follow(highDigit, fractionDigits(from: position + 1, low: nil, high: high)) }
        return run
    }

    private static func digitClass(_ from: UInt8, _ to: UInt8) -> String {
        var out = "[" + String(Unicode.Scalar(from))
        if to != from { out += "-" + String(Unicode.Scalar(to)) }
        return out + "]"
    }
}
