import SLMJSON

/// A schema's number bound as the decimal its author wrote, kept as digit strings so that the
/// grammar compares digits with it exactly (a double would make `0.1` a little more than 0.1).
struct ExactDecimal: Comparable {
    var isNegative: Bool
    /// ASCII digits of the integral part, without leading zeros ("0" for zero).
    var integralDigits: [UInt8]
    /// ASCII digits after the point, without trailing zeros (empty for an integer).
    var fractionDigits: [UInt8]

    static let zero = ExactDecimal(isNegative: false, integralDigits: [UInt8(ascii: "0")], fractionDigits: [])

    var isZero: Bool { integralDigits == [UInt8(ascii: "0")] && fractionDigits.isEmpty }

    /// Negation; zero stays unsigned, so `-0.0` in a schema is the bound 0.
    static prefix func - (value: ExactDecimal) -> ExactDecimal {
        var negated = value
        negated.isNegative = !value.isNegative && !value.isZero
        return negated
    }

    /// The integral part's magnitude as an integer; nil when it does not fit `Int64` (the reader
    /// refuses such bounds).
    var integralValue: Int64? { Int64(String(decoding: integralDigits, as: UTF8.self)) }

    /// A JSON number as the decimal its author meant. The parser keeps a fractional number as a
    /// double; its shortest round-trip spelling (`Double.description`) gives back the digits that
    /// were written whenever they number 15 or fewer (a double holds any 15-digit decimal), which
    /// covers the bounds people write; longer ones arrive already rounded by the parser.
    init?(_ value: JSONValue) {
        switch value {
        case .int(let integer): self.init(text: Array(String(integer).utf8))
        case .double(let double):
            guard double.isFinite else { return nil }
            self.init(text: Array(double.description.utf8))
        default: return nil
        }
    }

    init(isNegative: Bool, integralDigits: [UInt8], fractionDigits: [UInt8]) {
        self.isNegative = isNegative
        self.integralDigits = integralDigits
        self.fractionDigits = fractionDigits
    }

    /// Parses `-?digits(.digits)?([eE][-+]?digits)?`, the spellings JSON and `Double.description`
    /// use, shifting the point by the exponent.
    init?(text: [UInt8]) {
        var index = 0
        let negative = index < text.count && text[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var significand: [UInt8] = []
        var pointPosition: Int?
        while index < text.count {
            let byte = text[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                significand.append(byte)
            } else if byte == UInt8(ascii: "."), pointPosition == nil {
                pointPosition = significand.count
            } else {
                break
            }
            index += 1
        }
        guard !significand.isEmpty else { return nil }
        var exponent = 0
        if index < text.count {
            guard text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") else { return nil }
            index += 1
            var exponentNegative = false
            if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") {
                exponentNegative = text[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < text.count else { return nil }
            while index < text.count {
                let byte = text[index]
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                // Past ±10,000 the number is refused by the caller's limits anyway; stop counting
                // before the exponent itself could overflow.
                if exponent < 10_000 { exponent = exponent * 10 + Int(byte - UInt8(ascii: "0")) }
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        // Where the point falls in the significand's digits once the exponent has moved it.
        let integralCount = (pointPosition ?? significand.count) + exponent
        var integral: [UInt8]
        var fraction: [UInt8]
        if integralCount <= 0 {
            integral = []
            fraction = [UInt8](repeating: UInt8(ascii: "0"), count: -integralCount) + significand
        } else if integralCount >= significand.count {
            integral = significand + [UInt8](repeating: UInt8(ascii: "0"), count: integralCount - significand.count)
            fraction = []
        } else {
            integral = Array(significand[..<integralCount])
            fraction = Array(significand[integralCount...])
        }
        while let first = integral.first, first == UInt8(ascii: "0") { integral.removeFirst() }
        if integral.isEmpty { integral = [UInt8(ascii: "0")] }
        while let last = fraction.last, last == UInt8(ascii: "0") { fraction.removeLast() }
        self.init(isNegative: false, integralDigits: integral, fractionDigits: fraction)
        if negative { self = -self }
    }

    /// The digit after the point at `position` (0 is the tenths), zero past the written ones.
    func fractionDigit(_ position: Int) -> UInt8 {
        position < fractionDigits.count ? fractionDigits[position] : UInt8(ascii: "0")
    }

    static func < (a: ExactDecimal, b: ExactDecimal) -> Bool {
        if a.isNegative != b.isNegative { return a.isNegative }
        return a.isNegative ? magnitudeLess(b, a) : magnitudeLess(a, b)
    }

    private static func magnitudeLess(_ a: ExactDecimal, _ b: ExactDecimal) -> Bool {
        if a.integralDigits.count != b.integralDigits.count { return a.integralDigits.count < b.integralDigits.count }
        if a.integralDigits != b.integralDigits { return a.integralDigits.lexicographicallyPrecedes(b.integralDigits) }
        for position in 0..<max(a.fractionDigits.count, b.fractionDigits.count) {
            let x = a.fractionDigit(position)
            let y = b.fractionDigit(position)
            if x != y { return x < y }
        }
        return false
    }
}
