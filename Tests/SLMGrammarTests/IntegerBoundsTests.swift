import SLMJSON
import XCTest

@testable import SLMGrammar

/// `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum` on `"type": "integer"`: the grammar
/// must accept a string exactly when it is a canonical JSON integer (`-?(0|[1-9][0-9]*)`, not
/// `-0`) of at most 16 digits whose value is within the bounds. Expected answers come from Int64
/// arithmetic on the candidates (all of at most 18 digits), never from the grammar code.
final class IntegerBoundsTests: XCTestCase {
    static let twoTo53: Int64 = 1 << 53

    /// Bounds people write, bounds with zeros after the first digit (where llama.cpp's algorithm
    /// loses digits), and bounds at the edges of what the reader accepts (±2^53).
    static let interestingValues: [Int64] = [
        0, 1, -1, 5, -5, 9, -9, 10, -10, 99, -99, 100, -100, 101, -101, 205, -205, 1099, -1099, 2099, -2099,
        -12, 42, -123, 207, 1123, -1123, 10000, -10000, 12345, -12345, 100_001, 900_719_925_474_091,
        999_999_999_999_999, 1_000_000_000_000_000, -1_000_000_000_000_000,
        twoTo53, twoTo53 - 1, twoTo53 - 300, -twoTo53, -twoTo53 + 1, -twoTo53 + 300, 9_000_000_000_000_000,
    ]

    /// The integers a schema's bounds admit: nil on a side means unbounded.
    struct Bounds: CustomStringConvertible {
        var schema: String
        var low: Int64?
        var high: Int64?

        var description: String { schema }
    }

    /// One side as the schema writes it and as the inclusive bound it means.
    private static func schema(minimum: (Int64, Bool)?, maximum: (Int64, Bool)?) -> Bounds {
        var fields = [#""type":"integer""#]
        var low: Int64?
        var high: Int64?
        if let (value, exclusive) = minimum {
            fields.append("\"\(exclusive ? "exclusiveMinimum" : "minimum")\":\(value)")
            low = exclusive ? value + 1 : value
        }
        if let (value, exclusive) = maximum {
            fields.append("\"\(exclusive ? "exclusiveMaximum" : "maximum")\":\(value)")
            high = exclusive ? value - 1 : value
        }
        return Bounds(schema: "{" + fields.joined(separator: ",") + "}", low: low, high: high)
    }

    // MARK: tests

    /// Every interesting value as a lone bound, each of the four ways.
    func testOneSidedBounds() throws {
        var random = SplitMix(seed: 0x1_0e5_1de)
        var checked = 0
        var schemas = 0
        for value in Self.interestingValues + (0..<8).map({ _ in Self.randomBound(&random) }) {
            for exclusive in [false, true] {
                for bounds in [
                    Self.schema(minimum: (value, exclusive), maximum: nil), Self.schema(minimum: nil, maximum: (value, exclusive)),
                ] {
                    checked += try check(bounds, window: 300, random: &random)
                    schemas += 1
                }
            }
        }
        XCTAssertGreaterThan(schemas, 150)
        XCTAssertGreaterThan(checked, 120_000)
    }

    /// Pairs of interesting values (and random ones) as minimum and maximum, inclusive or
    /// exclusive; an empty range must be refused.
    func testTwoSidedBounds() throws {
        var random = SplitMix(seed: 0x2_b0_0d5)
        var checked = 0
        var schemas = 0
        var refused = 0
        var pairs: [(Int64, Int64)] = []
        let values = Self.interestingValues
        for (i, a) in values.enumerated() {
            for b in values[i...] where abs(a) <= 2_100 && abs(b) <= 2_100 || random.next() % 8 == 0 {
                pairs.append((min(a, b), max(a, b)))
            }
        }
        for _ in 0..<40 {
            let a = Self.randomBound(&random)
            let b = random.next() % 2 == 0 ? Self.randomBound(&random) : a + Int64(random.next() % 400) - 200
            pairs.append((min(a, b), max(a, b)))
        }
        for (low, high) in pairs {
            let minimumExclusive = random.next() % 3 == 0
            let maximumExclusive = random.next() % 3 == 0
            let bounds = Self.schema(minimum: (low, minimumExclusive), maximum: (high, maximumExclusive))
            if bounds.low! > bounds.high! {
                XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: JSONParser.parse(bounds.schema)), bounds.schema)
                refused += 1
                continue
            }
            checked += try check(bounds, window: 120, random: &random)
            schemas += 1
        }
        XCTAssertGreaterThan(schemas, 150)
        XCTAssertGreaterThan(refused, 5)
        XCTAssertGreaterThan(checked, 100_000)
    }

    /// The cases found wrong in llama.cpp's algorithm (and so formerly in ours), spelled out.
    func testFormerlyUnsoundCases() throws {
        let cases: [(String, accepted: [String], refused: [String])] = [
            (
                #"{"type":"integer","minimum":1099}"#, ["1099", "1100", "2000", "10000", "10001", "9999999999999999"],
                ["1098", "1050", "1000", "999", "109", "99999999999999999"]
            ),
            (#"{"type":"integer","minimum":205}"#, ["205", "206", "210", "300", "1000", "2000"], ["200", "204", "20", "2", "0"]),
            (#"{"type":"integer","minimum":100}"#, ["100", "101", "1000"], ["10", "99", "0"]),
            (#"{"type":"integer","minimum":1123}"#, ["1123", "10000", "10999", "11000"], ["1122", "1023", "112"]),
            (
                #"{"type":"integer","maximum":-5}"#, ["-5", "-6", "-10", "-100", "-9999999999999999"],
                ["-01", "-00", "-0", "-4", "0", "5", "-05"]
            ),
            (
                #"{"type":"integer","maximum":-2099}"#, ["-2099", "-2100", "-10000", "-3000"],
                ["-01234", "-02099", "-2098", "-1234", "-999"]
            ),
            (#"{"type":"integer","minimum":-5}"#, ["-5", "-1", "0", "1", "123"], ["-0", "-6", "-00", "-05"]),
            (#"{"type":"integer","minimum":-10,"maximum":10}"#, ["-10", "-1", "0", "10"], ["-0", "-11", "11"]),
            (
                #"{"type":"integer","minimum":9007199254740992}"#, ["9007199254740992", "9999999999999999"],
                ["9007199254740991", "10000000000000000", "1"]
            ),
            (#"{"type":"integer","exclusiveMinimum":9007199254740992}"#, ["9007199254740993", "9100000000000000"], ["9007199254740992"]),
            (
                #"{"type":"integer","maximum":-9007199254740992}"#, ["-9007199254740992", "-9999999999999999"],
                ["-9007199254740991", "-10000000000000000"]
            ),
            (#"{"type":"integer","exclusiveMaximum":-9007199254740992}"#, ["-9007199254740993"], ["-9007199254740992", "-0"]),
        ]
        for (schema, accepted, refused) in cases {
            let matcher = try matcher(schema)
            for s in accepted { XCTAssertTrue(accepts(matcher, s), "\(schema) should accept \(s)") }
            for s in refused { XCTAssertFalse(accepts(matcher, s), "\(schema) should refuse \(s)") }
        }
    }

    /// The llama.cpp fixture's integer cases whose text we do not copy (listed in
    /// `JSONSchemaGrammarTests.deliberateDivergences`), each with a string llama.cpp's grammar
    /// accepts although it is not a canonical integer in range.
    static let llamaCppFlaws: [String: String] = [
        "min -5": "-0", "min -123": "-0", "min -123 max 42": "-0", "min -10 max 10": "-0",
        "min + max items with min + max values across zero": "-0", "max -5": "-01",
    ]

    /// For each of those: llama.cpp's rule does accept the flaw, and ours accepts exactly the
    /// canonical integers in range.
    func testLlamaCppDivergencesAreExact() throws {
        var random = SplitMix(seed: 0x11a_3a_c99)
        var seen = 0
        var checked = 0
        for c in try JSONSchemaGrammarTests.loadFixture("json-schema-to-grammar.json") {
            let name = c["name"]!.stringValue!
            guard let flaw = Self.llamaCppFlaws[name] else { continue }
            seen += 1
            XCTAssertNotNil(JSONSchemaGrammarTests.deliberateDivergences[name], name)
            var schema = try JSONParser.parse(c["schema"]!.stringValue!)
            if let items = schema["items"] { schema = items }
            let minimum = schema["minimum"]?.integerValue
            let maximum = schema["maximum"]?.integerValue
            let bounds = Self.schema(minimum: minimum.map { ($0, false) }, maximum: maximum.map { ($0, false) })
            XCTAssertFalse(expected(flaw, in: bounds), name)

            // llama.cpp's integer rule ("item" when the integer is an array's item) as a grammar.
            let lines = c["grammar"]!.stringValue!.split(separator: "\n").map(String.init)
            let rule = try XCTUnwrap(lines.first { $0.hasPrefix("item ::= ") } ?? lines.first { $0.hasPrefix("root ::= ") }, name)
            let body = rule[rule.range(of: " ::= ")!.upperBound...]
            let theirs = GrammarMatcher(grammar: try Grammar(parsing: "root ::= " + body))
            XCTAssertTrue(accepts(theirs, flaw), "\(name): llama.cpp's rule no longer accepts \(flaw)")

            checked += try check(bounds, window: 300, random: &random)
        }
        XCTAssertEqual(seen, Self.llamaCppFlaws.count)
        XCTAssertGreaterThan(checked, 3_000)
    }

    // MARK: helpers

    /// Checks every candidate (integers within `window` of each bound, a few fixed and random
    /// large ones, and non-canonical spellings) against the grammar; returns how many.
    private func check(_ bounds: Bounds, window: Int64, random: inout SplitMix, line: UInt = #line) throws -> Int {
        let text: String
        do {
            text = try JSONSchemaGrammar.grammar(for: JSONParser.parse(bounds.schema))
        } catch {
            XCTFail("\(bounds): \(error)", line: line)
            return 0
        }
        let matcher: GrammarMatcher
        do {
            matcher = GrammarMatcher(grammar: try Grammar(parsing: text))
        } catch {
            XCTFail("\(bounds): \(error)\n\(text)", line: line)
            return 0
        }
        var failures = 0
        var count = 0
        for candidate in candidates(for: bounds, window: window, random: &random) {
            let accepted = accepts(matcher, candidate)
            if accepted != expected(candidate, in: bounds) {
                failures += 1
                if failures <= 3 {
                    XCTFail("\(bounds): \(candidate) \(accepted ? "accepted" : "refused")\n\(text)", line: line)
                }
            }
            count += 1
        }
        return count
    }

    private func candidates(for bounds: Bounds, window: Int64, random: inout SplitMix) -> [String] {
        var values = Set<Int64>()
        for bound in [bounds.low, bounds.high].compactMap({ $0 }) {
            for value in (bound - window)...(bound + window) { values.insert(value) }
        }
        for value: Int64 in [
            0, 1, -1, 9, -9, 10, -10, 999_999_999_999_999, 1_000_000_000_000_000, 9_999_999_999_999_999,
            10_000_000_000_000_000, 99_999_999_999_999_999, Self.twoTo53, Self.twoTo53 + 1,
        ] {
            values.insert(value)
            values.insert(-value)
        }
        // Random integers of every length from 1 to 17 digits, either sign.
        for length in 1...17 {
            var magnitude: Int64 = Int64(random.next() % 9) + 1
            for _ in 1..<length { magnitude = magnitude * 10 + Int64(random.next() % 10) }
            values.insert(magnitude)
            values.insert(-magnitude)
        }
        var texts = values.sorted().map { String($0) }
        var spellings = ["-0", "00", "007", "-01", "-00", "+1", "1.0", "1e2", "-", "", "01", "0123", "-0123", "0.0", "-1.0"]
        for bound in [bounds.low, bounds.high].compactMap({ $0 }) {
            let magnitude = String(bound.magnitude)
            let sign = bound < 0 ? "-" : ""
            spellings += [
                sign + "0" + magnitude, sign + "00" + magnitude, "+" + String(bound), String(bound) + ".0", String(bound) + "e0",
                String(bound) + " ", " " + String(bound),
            ]
        }
        texts += spellings
        return texts
    }

    /// Whether the grammar must accept `text`: canonical, at most 16 digits, and within bounds.
    private func expected(_ text: String, in bounds: Bounds) -> Bool {
        let bytes = Array(text.utf8)
        let digits = bytes.first == UInt8(ascii: "-") ? bytes.dropFirst() : bytes[...]
        guard !digits.isEmpty, digits.count <= 16, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return false
        }
        if digits.count > 1 && digits.first == UInt8(ascii: "0") { return false }
        if text == "-0" { return false }
        guard let value = Int64(text) else { return false }
        if let low = bounds.low, value < low { return false }
        if let high = bounds.high, value > high { return false }
        return true
    }

    /// A bound the reader accepts (within ±2^53), of a random length.
    private static func randomBound(_ random: inout SplitMix) -> Int64 {
        let length = Int(random.next() % 16) + 1
        var magnitude: Int64 = 0
        for _ in 0..<length { magnitude = magnitude * 10 + Int64(random.next() % 10) }
        magnitude = min(magnitude, twoTo53 - 1)
        return random.next() % 2 == 0 ? magnitude : -magnitude
    }

    private func matcher(_ schema: String) throws -> GrammarMatcher {
        GrammarMatcher(grammar: try Grammar(parsing: JSONSchemaGrammar.grammar(for: JSONParser.parse(schema))))
    }

    private func accepts(_ matcher: GrammarMatcher, _ text: String) -> Bool {
        matcher.reset()
        return matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd
    }
}
