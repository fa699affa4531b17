import SLMJSON
import XCTest

final class JSONParserTests: XCTestCase {
    func testParsesAndSerializesRoundTrip() throws {
        let text = #"{"id":1,"op":"generate","prompt":"héllo \"x\"\n\u0001","stop":["a","b"],"t":0.5,"n":null,"b":true,"e":-1.5e-3}"#
        let value = try JSONParser.parse(text)
        XCTAssertEqual(value["prompt"], .string("héllo \"x\"\n\u{1}"))
        XCTAssertEqual(value["e"], .number(-0.0015))
        XCTAssertEqual(try JSONParser.parse(value.serialized), value)
        XCTAssertEqual(JSONValue.integer(42).serialized, "42")
        XCTAssertEqual(JSONValue.string("\u{1}\u{2028}").serialized, #""\u0001\u2028""#)
    }

    func testNumbersKeepWhetherTheyWereIntegers() throws {
        let value = try JSONParser.parse("[3, 3.0, 3e0, -0, 12345678901234567890]")
        guard case .array(let items) = value else { return XCTFail("not an array") }
        if case .int(3) = items[0] {} else { XCTFail("3 should be .int") }
        if case .double(3.0) = items[1] {} else { XCTFail("3.0 should be .double") }
        if case .double(3.0) = items[2] {} else { XCTFail("3e0 should be .double") }
        if case .double = items[4] {} else { XCTFail("an integer beyond Int should be .double") }
        XCTAssertEqual(items[0], items[1], "numbers compare by value")
        XCTAssertEqual(items[1].integerValue, 3)
        XCTAssertNil(JSONValue.int(Int(1) << 60).integerValue, "beyond 2^53 no client's double agrees")
        XCTAssertEqual(JSONValue.number(2.5).serialized, "2.5")
        XCTAssertEqual(JSONValue.number(7).serialized, "7")
    }

    func testSurrogatePairEscapes() throws {
        XCTAssertEqual(try JSONParser.parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertThrowsError(try JSONParser.parse(#""\ud83d""#))
        XCTAssertThrowsError(try JSONParser.parse(#""\ude00""#))
    }

    func testRejectsWhatRFC8259Rejects() {
        for bad in [
            "", "{", "{\"a\":1,}", "[1,]", "01", "1.", "-", ".5", "+1", "1e", "tru", "nul", "\"a\tb\"",
            "{\"a\":1}x", "{'a':1}", "{\"a\" 1}", "\"\\x\"", "1e400", "{\"a\":1,\"a\":2}", "NaN",
        ] {
            XCTAssertThrowsError(try JSONParser.parse(bad), "accepted \(bad)")
        }
    }

    func testDuplicateKeysRefusedOrLastWins() throws {
        XCTAssertThrowsError(try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)) { error in
            XCTAssertEqual(error as? JSONError, .malformed(offset: 13, reason: "duplicate key \"a\""))
        }
        let python = JSONParser.Options(duplicateKeys: .keepLast)
        XCTAssertEqual(try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#, options: python), .object([("a", .int(3)), ("b", .int(2))]))
    }

    /// Past `KeyIndex.indexedFrom` keys an object's keys are found through a hash table: a
    /// repeated key is still found wherever it is, including keys with escapes and non-ASCII.
    func testDuplicateKeysInLargeObjectsAreFoundByTheIndex() throws {
        for count in [15, 16, 17, 64, 65, 1000] {
            for repeated in [0, count / 2, count - 1] {
                var text = "{"
                for i in 0..<count { text += "\"k\(i)é\":\(i)," }
                text += "\"k\(repeated)\\u00e9\":-1}"
                XCTAssertThrowsError(try JSONParser.parse(text), "\(count) keys, k\(repeated) repeated")
                let last = try JSONParser.parse(text, options: JSONParser.Options(duplicateKeys: .keepLast))
                XCTAssertEqual(last.objectValue?.count, count)
                XCTAssertEqual(last["k\(repeated)é"], .int(-1))
            }
        }
    }

    func testIntegersAtTheEdgesOfInt64() throws {
        for (text, expected) in [
            ("0", 0), ("-0", 0), ("-7", -7), ("999999999999999999", 999_999_999_999_999_999),
            ("-999999999999999999", -999_999_999_999_999_999), ("9223372036854775807", Int.max),
            ("-9223372036854775808", Int.min),
        ] {
            guard case .int(let got) = try JSONParser.parse(text) else { return XCTFail("\(text) should be .int") }
            XCTAssertEqual(got, expected, text)
        }
        if case .double = try JSONParser.parse("9223372036854775808") {} else { XCTFail("2^63 should be .double") }
    }

    func testManyDistinctKeysParseInLinearTime() throws {
        // 90,000 distinct keys in about 1 MiB: a pairwise duplicate check took over 10 s here.
        var text = "{"
        for i in 0..<90_000 { text += (i > 0 ? "," : "") + "\"k\(i)\":0" }
        text += "}"
        let start = ContinuousClock.now
        let value = try JSONParser.parse(text)
        XCTAssertEqual(value.objectValue?.count, 90_000)
        // About 50 ms in a release build on a quiet 2-core machine; a debug build is slower.
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "quadratic duplicate-key check is back")
    }

    func testInvalidUTF8IsRefusedWithItsOffset() {
        for (bytes, offset) in [
            ([0x22, 0x61, 0xFF, 0x22], 2), ([0x22, 0xC0, 0x80, 0x22], 1),
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1), ([0x22, 0xE2, 0x82], 1),
        ] as [([UInt8], Int)] {
            XCTAssertThrowsError(try JSONParser.parse(bytes)) { error in
                XCTAssertEqual(error as? JSONError, .invalidUTF8(offset: offset))
            }
        }
        XCTAssertEqual(try JSONParser.parse(Array("\"€😀\"".utf8)), .string("€😀"))
    }

    func testDepthLimit() {
        let deep = String(repeating: "[", count: JSONLimits.maxDepth + 1) + String(repeating: "]", count: JSONLimits.maxDepth + 1)
        XCTAssertThrowsError(try JSONParser.parse(deep))
        let ok = String(repeating: "[", count: JSONLimits.maxDepth) + String(repeating: "]", count: JSONLimits.maxDepth)
        XCTAssertNoThrow(try JSONParser.parse(ok))
        XCTAssertNoThrow(try JSONParser.parse(deep, options: .init(maxDepth: JSONLimits.maxDepth + 1)))
    }

    func testOneEscaperTwoForms() {
        let s = "a\"\\\n\u{8}\u{7F}é😀\u{2028}"
        XCTAssertEqual(JSONValue.quoted(s), #""a\"\\\n\u0008\u007fé😀\u2028""#)
        XCTAssertEqual(JSONValue.quoted(s, escaping: .python(asciiOnly: false)), "\"a\\\"\\\\\\n\\b\u{7F}é😀\u{2028}\"")
        XCTAssertEqual(JSONValue.quoted(s, escaping: .python(asciiOnly: true)), #""a\"\\\n\b\u007f\u00e9\ud83d\ude00\u2028""#)
    }
}
