import SLMJSON
import XCTest

@testable import SLMGrammar

/// `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum` on `"type": "number"`: the grammar
/// must accept a plain decimal exactly when its value is within the bounds. Values are compared
/// here as integers scaled by 10^10 (never as doubles), so 0.1 + 0.2 questions cannot arise.
final class NumberBoundsTests: XCTestCase {
    /// Fraction digits the scaled comparison holds exactly.
    static let scaleDigits = 10
    static let scale: Int64 = 10_000_000_000

    /// One side of a range in the test's own terms: the bound scaled by 10^10.
    struct Side {
        var scaled: Int64
        var exclusive: Bool
    }

    struct Range: CustomStringConvertible {
        var minimum: Side?
        var maximum: Side?

        func contains(_ value: Int64) -> Bool {
            if let minimum, minimum.exclusive ? value <= minimum.scaled : value < minimum.scaled { return false }
            if let maximum, maximum.exclusive ? value >= maximum.scaled : value > maximum.scaled { return false }
            return true
        }

        var schema: String {
            var fields = [#""type":"number""#]
            if let minimum { fields.append("\"\(minimum.exclusive ? "exclusiveMinimum" : "minimum")\":\(format(minimum.scaled))") }
            if let maximum { fields.append("\"\(maximum.exclusive ? "exclusiveMaximum" : "maximum")\":\(format(maximum.scaled))") }
            return "{" + fields.joined(separator: ",") + "}"
        }

        var description: String { schema }
    }

    // MARK: the cases people write

    func testCommonBounds() throws {
        let cases: [(String, Range)] = [
            (#"{"type":"number","minimum":0}"#, Range(minimum: side("0"), maximum: nil)),
            (#"{"type":"number","exclusiveMinimum":0}"#, Range(minimum: side("0", exclusive: true), maximum: nil)),
            (#"{"type":"number","minimum":0,"maximum":1}"#, Range(minimum: side("0"), maximum: side("1"))),
            (#"{"type":"number","minimum":-90,"maximum":90}"#, Range(minimum: side("-90"), maximum: side("90"))),
            (#"{"type":"number","minimum":-180,"maximum":180}"#, Range(minimum: side("-180"), maximum: side("180"))),
            (#"{"type":"number","minimum":0.5,"maximum":99.95}"#, Range(minimum: side("0.5"), maximum: side("99.95"))),
            (#"{"type":"number","exclusiveMaximum":100}"#, Range(minimum: nil, maximum: side("100", exclusive: true))),
            (#"{"type":"number","minimum":1e3}"#, Range(minimum: side("1000"), maximum: nil)),
            (#"{"type":"number","maximum":-2.5e-1}"#, Range(minimum: nil, maximum: side("-0.25"))),
            (
                #"{"type":"number","exclusiveMinimum":-1,"exclusiveMaximum":-0.125}"#,
                Range(minimum: side("-1", exclusive: true), maximum: side("-0.125", exclusive: true))
            ),
            (#"{"type":"number","minimum":2.5,"maximum":2.5}"#, Range(minimum: side("2.5"), maximum: side("2.5"))),
            (
                #"{"type":"number","exclusiveMinimum":3,"maximum":3.0001}"#,
                Range(minimum: side("3", exclusive: true), maximum: side("3.0001"))
            ),
            (#"{"type":"number","minimum":-0.0,"exclusiveMaximum":0.5}"#, Range(minimum: side("0"), maximum: side("0.5", exclusive: true))),
            (
                #"{"type":"number","exclusiveMinimum":-0.001,"exclusiveMaximum":0}"#,
                Range(minimum: side("-0.001", exclusive: true), maximum: side("0", exclusive: true))
            ),
        ]
        var checked = 0
        for (schema, range) in cases {
            checked += try check(schema: schema, range: range, candidates: candidates(for: range))
        }
        XCTAssertGreaterThan(checked, 2_000)
    }

    func testExamplesFromTheBrief() throws {
        let unit = try matcher(#"{"type":"number","minimum":0,"maximum":1}"#)
        for s in ["0", "0.0", "0.25", "1", "1.0", "1.000", "0.9999999999999999"] { XCTAssertTrue(accepts(unit, s), s) }
        for s in ["1.01", "1.0000000001", "-0.1", "2", "01", "1.", ".5", "+1", "1e0", "0e0", "-1"] { XCTAssertFalse(accepts(unit, s), s) }

        let positive = try matcher(#"{"type":"number","exclusiveMinimum":0}"#)
        for s in ["0.001", "1", "0.5", "12.75", "0.0000000000000001", "123456789012345"] { XCTAssertTrue(accepts(positive, s), s) }
        for s in ["0", "0.0", "0.000", "-0", "-0.0", "-1", "-0.001", "1e-3"] { XCTAssertFalse(accepts(positive, s), s) }

        // -0 is 0: refused everywhere, so never accepted where 0 is out of range either
        let negative = try matcher(#"{"type":"number","exclusiveMaximum":0}"#)
        for s in ["-0.001", "-1", "-100.5"] { XCTAssertTrue(accepts(negative, s), s) }
        for s in ["0", "-0", "-0.0", "-0.000", "0.1"] { XCTAssertFalse(accepts(negative, s), s) }

        let price = try matcher(#"{"type":"number","minimum":0.5,"maximum":99.95}"#)
        for s in ["0.5", "0.50", "99.95", "99.950", "99.9", "10", "50.123"] { XCTAssertTrue(accepts(price, s), s) }
        for s in ["0.49", "0.4999", "99.951", "99.96", "100", "0"] { XCTAssertFalse(accepts(price, s), s) }
    }

    /// Random ranges (each side absent, inclusive or exclusive; bounds with up to 4 integral and
    /// 4 fraction digits, either sign) against values near and between their bounds.
    func testRandomRanges() throws {
        var random = SplitMix(seed: 0x5eed_0f_b0_0d5)
        var checked = 0
        var ranges = 0
        while ranges < 150 {
            let minimum = randomSide(&random)
            let maximum = randomSide(&random)
            if minimum == nil && maximum == nil { continue }
            let range = Range(minimum: minimum, maximum: maximum)
            if let minimum, let maximum {
                let empty =
                    maximum.scaled < minimum.scaled
                    || (maximum.scaled == minimum.scaled && (minimum.exclusive || maximum.exclusive))
                if empty {
                    XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: JSONParser.parse(range.schema)), range.schema)
                    continue
                }
            }
            var values = candidates(for: range)
            for _ in 0..<40 { values.append(randomNumberText(&random, near: range)) }
            checked += try check(schema: range.schema, range: range, candidates: values)
            ranges += 1
        }
        XCTAssertGreaterThan(checked, 25_000)
    }

    /// Ranges with bounds on a 0.001 grid near zero against every value of that grid (and, for
    /// some, the same value with trailing zeros): every equal-integral-part and sign-crossing
    /// shape of the digit walk is met.
    func testDenseGrid() throws {
        var random = SplitMix(seed: 0xD15C_0B0A)
        let step = Self.scale / 1000
        let gridEnd: Int64 = 2_200
        var checked = 0
        var ranges = 0
        while ranges < 25 {
            func gridSide() -> Side? {
                if random.next() % 4 == 0 { return nil }
                let position = Int64(random.next() % UInt64(2 * 2_000 + 1)) - 2_000
                return Side(scaled: position * step, exclusive: random.next() % 2 == 0)
            }
            let range = Range(minimum: gridSide(), maximum: gridSide())
            if range.minimum == nil && range.maximum == nil { continue }
            if let minimum = range.minimum, let maximum = range.maximum, maximum.scaled <= minimum.scaled { continue }
            var values: [String] = []
            for position in -gridEnd...gridEnd {
                let text = format(position * step)
                values.append(text)
                if position % 7 == 0 { values.append(text.contains(".") ? text + "00" : text + ".000") }
            }
            checked += try check(schema: range.schema, range: range, candidates: values)
            ranges += 1
        }
        XCTAssertGreaterThan(checked, 100_000)
    }

    // MARK: limits and errors

    func testLargeAndFineBounds() throws {
        let large = try matcher(#"{"type":"number","minimum":-9007199254740992,"maximum":9007199254740992}"#)
        for s in ["9007199254740992", "9007199254740992.0", "-9007199254740992", "9007199254740991.999", "0", "123.5"] {
            XCTAssertTrue(accepts(large, s), s)
        }
        for s in ["9007199254740992.001", "9007199254740993", "-9007199254740992.5", "10000000000000000"] {
            XCTAssertFalse(accepts(large, s), s)
        }
        // 2^52 - 0.5, a double exactly (2^53 - 0.5 is not: the parser would round it to 2^53)
        let above = try matcher(#"{"type":"number","exclusiveMinimum":4503599627370495.5}"#)
        XCTAssertTrue(accepts(above, "4503599627370496"))
        XCTAssertTrue(accepts(above, "4503599627370495.6"))
        XCTAssertTrue(accepts(above, "9999999999999999.9"))
        XCTAssertFalse(accepts(above, "4503599627370495.5"))
        XCTAssertFalse(accepts(above, "4503599627370495.50"))
        XCTAssertFalse(accepts(above, "4503599627370495"))
        XCTAssertFalse(accepts(above, "999999999999999"))

        let tiny = try matcher(#"{"type":"number","exclusiveMinimum":0,"maximum":1e-30}"#)
        let thirtyDigits = "0." + String(repeating: "0", count: 29) + "1"
        XCTAssertTrue(accepts(tiny, thirtyDigits))
        XCTAssertTrue(accepts(tiny, thirtyDigits + "000"))
        XCTAssertTrue(accepts(tiny, "0." + String(repeating: "0", count: 30) + "5"))
        XCTAssertFalse(accepts(tiny, "0." + String(repeating: "0", count: 29) + "11"))
        XCTAssertFalse(accepts(tiny, "0.0"))
        XCTAssertFalse(accepts(tiny, "0.0000000000000001"))

        // the rule grows with the bounds' digits, not their values
        let text = try grammar(#"{"type":"number","minimum":-1234567.000001,"maximum":9007199254740991.75}"#)
        XCTAssertLessThan(text.utf8.count, 4_000, text)
        let fine = try grammar(#"{"type":"number","minimum":0.123456789012345,"maximum":0.123456789012346}"#)
        XCTAssertLessThan(fine.utf8.count, 4_000, fine)
    }

    func testRefusedBounds() {
        assertRefused(#"{"type":"number","minimum":1e300}"#, at: "/minimum", mentioning: "2^53")
        assertRefused(#"{"type":"number","maximum":-9007199254740994}"#, at: "/maximum", mentioning: "2^53")
        assertRefused(#"{"type":"number","exclusiveMinimum":1e-31}"#, at: "/exclusiveMinimum", mentioning: "30 digits")
        assertRefused(#"{"type":"number","minimum":"1"}"#, at: "/minimum", mentioning: "number")
        assertRefused(#"{"type":"number","exclusiveMinimum":true}"#, at: "/exclusiveMinimum", mentioning: "number")
        assertRefused(#"{"type":"number","minimum":2,"maximum":1}"#, at: "", mentioning: "no number")
        assertRefused(#"{"type":"number","minimum":1,"exclusiveMaximum":1}"#, at: "", mentioning: "no number")
        assertRefused(#"{"type":"number","minimum":0,"multipleOf":0.5}"#, at: "/multipleOf", mentioning: "multipleOf")
    }

    func testTighterBoundWins() throws {
        XCTAssertEqual(
            try grammar(#"{"type":"number","minimum":0,"exclusiveMinimum":0}"#), try grammar(#"{"type":"number","exclusiveMinimum":0}"#))
        XCTAssertEqual(
            try grammar(#"{"type":"number","minimum":1.5,"exclusiveMinimum":1}"#), try grammar(#"{"type":"number","minimum":1.5}"#))
        XCTAssertEqual(
            try grammar(#"{"type":"number","maximum":2,"exclusiveMaximum":2.5}"#), try grammar(#"{"type":"number","maximum":2}"#))
        // an unbounded number keeps llama.cpp's rule
        XCTAssertEqual(try grammar(#"{"type":"number"}"#), try grammar(#"{"type":"number","title":"x"}"#))
        XCTAssertTrue(try grammar(#"{"type":"number"}"#).contains("root ::= (\"-\"? integral-part)"))
    }

    func testBoundsInsideObjectsAndTypeArrays() throws {
        let schema =
            #"{"type":"object","properties":{"price":{"type":"number","exclusiveMinimum":0},"n":{"type":["number","null"],"maximum":10}},"required":["price","n"]}"#
        let m = try matcher(schema)
        XCTAssertTrue(accepts(m, #"{"price": 0.5, "n": null}"#))
        XCTAssertTrue(accepts(m, #"{"price": 3, "n": -2.5}"#))
        XCTAssertFalse(accepts(m, #"{"price": 0, "n": 1}"#))
        XCTAssertFalse(accepts(m, #"{"price": 1, "n": 10.5}"#))
    }

    /// The two rules the report shows, pinned so a change to their shape is seen.
    func testGrammarText() throws {
        XCTAssertEqual(
            try grammar(#"{"type":"number","minimum":0,"maximum":1}"#),
            #"root ::= "0" ("." [0-9]{1,16})? | "1" ("." [0]{1,16})?"# + "\n" + #"space ::= | " " | "\n"{1,2} [ \t]{0,20}"# + "\n")
        XCTAssertEqual(
            try grammar(#"{"type":"number","exclusiveMinimum":0}"#),
            #"root ::= "0" "." [0]{0,15} [1-9] [0-9]{0,16} | [1-9] [0-9]{0,15} ("." [0-9]{1,16})?"# + "\n"
                + #"space ::= | " " | "\n"{1,2} [ \t]{0,20}"# + "\n")
    }

    // MARK: checking

    /// Feeds every candidate to the schema's grammar and checks it is accepted exactly when it is
    /// a plain decimal (no exponent, no minus on zero) whose value is in `range`. Returns the
    /// number of strings checked.
    private func check(schema: String, range: Range, candidates: [String], line: UInt = #line) throws -> Int {
        let text = try grammar(schema)
        let m = GrammarMatcher(grammar: try Grammar(parsing: text))
        var failures = 0
        for candidate in candidates {
            let expected = Self.scaled(candidate).map { !Self.isNegativeZero(candidate) && range.contains($0) } ?? false
            let accepted = accepts(m, candidate)
            if accepted != expected {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(schema): \(candidate) \(accepted ? "accepted" : "refused")\n\(text)", line: line)
                }
            }
        }
        return candidates.count
    }

    /// Values at, just inside and just outside each bound (steps of 1 down to 10^-6), written
    /// with and without trailing zeros, and the zero spellings.
    private func candidates(for range: Range) -> [String] {
        var values: [Int64] = [0]
        for bound in [range.minimum, range.maximum].compactMap({ $0 }) {
            values.append(bound.scaled)
            var step = Self.scale
            for _ in 0...7 {
                values += [bound.scaled - step, bound.scaled + step]
                step /= 10
            }
        }
        if let minimum = range.minimum, let maximum = range.maximum {
            values.append(minimum.scaled + (maximum.scaled - minimum.scaled) / 2)
        }
        var out = ["0", "0.0", "0.000", "-0", "-0.0", "-0.00", "1e2", "-1e2", "0e0", "1E-2", "01", "1.", ".5", "-", "+1", "--1", "00.5"]
        for value in values {
            let plain = format(value)
            out += [plain, plain.contains(".") ? plain + "0" : plain + ".0", plain.contains(".") ? plain + "000" : plain + ".000"]
            out.append("-" + (plain.hasPrefix("-") ? String(plain.dropFirst()) : plain))
            out.append(plain + "e0")
        }
        return out
    }

    private func randomSide(_ random: inout SplitMix) -> Side? {
        switch random.next() % 3 {
        case 0: return nil
        default:
            return Side(scaled: randomScaled(&random), exclusive: random.next() % 2 == 0)
        }
    }

    /// A bound or value with 0–4 integral digits and 0–4 fraction digits, either sign; sometimes
    /// an integer, sometimes small, so equal integral parts and zero crossings are common.
    private func randomScaled(_ random: inout SplitMix) -> Int64 {
        let integral = Int64(random.next() % [1, 3, 10, 100, 10_000][Int(random.next() % 5)])
        let fractionDigits = Int(random.next() % 5)
        var fraction: Int64 = 0
        var unit = Self.scale
        for _ in 0..<fractionDigits {
            unit /= 10
            fraction += Int64(random.next() % 10) * unit
        }
        let magnitude = integral * Self.scale + fraction
        return random.next() % 2 == 0 ? -magnitude : magnitude
    }

    /// A random value close to the range's ends (or anywhere), written with random trailing zeros.
    private func randomNumberText(_ random: inout SplitMix, near range: Range) -> String {
        let anchors = [range.minimum?.scaled, range.maximum?.scaled, 0].compactMap { $0 }
        let anchor = anchors[Int(random.next() % UInt64(anchors.count))]
        var offset: Int64 = 0
        var unit = Self.scale * 10
        for _ in 0..<Int(random.next() % 8) {
            offset += Int64(random.next() % 10) * unit
            unit /= 10
        }
        // Keep at most 8 fraction digits, so that two trailing zeros still fit the scale.
        offset = offset / Int64(1 + random.next() % 50) / 100 * 100
        let value = random.next() % 2 == 0 ? anchor + offset : anchor - offset
        var text = format(value)
        if random.next() % 4 == 0 { text += text.contains(".") ? "00" : ".0" }
        return text
    }

    // MARK: exact values

    private func side(_ text: String, exclusive: Bool = false) -> Side {
        Side(scaled: Self.scaled(text)!, exclusive: exclusive)
    }

    /// The value of a plain JSON decimal times 10^10, or nil when it is not one (wrong syntax,
    /// an exponent, or more fraction digits than the scale holds).
    static func scaled(_ text: String) -> Int64? {
        var bytes = Array(text.utf8)[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        let integral = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !integral.isEmpty, integral.count <= 8, integral.count == 1 || integral.first != UInt8(ascii: "0") else { return nil }
        bytes = bytes.dropFirst(integral.count)
        var fraction: ArraySlice<UInt8> = []
        if bytes.first == UInt8(ascii: ".") {
            fraction = bytes.dropFirst().prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !fraction.isEmpty, fraction.count <= scaleDigits else { return nil }
            bytes = bytes.dropFirst(1 + fraction.count)
        }
        guard bytes.isEmpty else { return nil }
        var value: Int64 = 0
        for digit in integral { value = value * 10 + Int64(digit - UInt8(ascii: "0")) }
        for position in 0..<scaleDigits {
            let digit = position < fraction.count ? Int64(fraction[fraction.startIndex + position] - UInt8(ascii: "0")) : 0
            value = value * 10 + digit
        }
        return negative ? -value : value
    }

    static func isNegativeZero(_ text: String) -> Bool {
        text.hasPrefix("-") && scaled(text) == 0
    }

    // MARK: helpers

    private func grammar(_ text: String) throws -> String {
        try JSONSchemaGrammar.grammar(for: JSONParser.parse(text))
    }

    private func matcher(_ schema: String) throws -> GrammarMatcher {
        GrammarMatcher(grammar: try Grammar(parsing: grammar(schema)))
    }

    private func accepts(_ matcher: GrammarMatcher, _ text: String) -> Bool {
        matcher.reset()
        return matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd
    }

    private func assertRefused(_ text: String, at pointer: String, mentioning fragment: String, line: UInt = #line) {
        do {
            let produced = try grammar(text)
            XCTFail("accepted \(text):\n\(produced)", line: line)
        } catch let error as JSONSchemaError {
            XCTAssertEqual(error.pointer, pointer, "\(error)", line: line)
            XCTAssertTrue(error.reason.contains(fragment), "\(error) should mention \(fragment)", line: line)
        } catch {
            XCTFail("\(error)", line: line)
        }
    }
}

/// A value scaled by 10^10 as the shortest plain decimal (no trailing zeros).
private func format(_ scaled: Int64) -> String {
    let magnitude = scaled.magnitude
    let scale = UInt64(NumberBoundsTests.scale)
    var text = (scaled < 0 ? "-" : "") + String(magnitude / scale)
    var fraction = String(magnitude % scale)
    fraction = String(repeating: "0", count: NumberBoundsTests.scaleDigits - fraction.count) + fraction
    while fraction.last == "0" { fraction.removeLast() }
    if !fraction.isEmpty { text += "." + fraction }
    return text
}

/// Deterministic random numbers (SplitMix64), so a failure reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
