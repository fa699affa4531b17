import XCTest
@testable import SLMProtocol

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

    func testSurrogatePairEscapes() throws {
        XCTAssertEqual(try JSONParser.parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertThrowsError(try JSONParser.parse(#""\ud83d""#))
        XCTAssertThrowsError(try JSONParser.parse(#""\ude00""#))
    }

    func testRejectsWhatRFC8259Rejects() {
        for bad in ["", "{", "{\"a\":1,}", "[1,]", "01", "1.", "-", ".5", "+1", "1e", "tru", "nul", "\"a\tb\"",
                    "{\"a\":1}x", "{'a':1}", "{\"a\" 1}", "\"\\x\"", "1e400", "{\"a\":1,\"a\":2}", "NaN"] {
            XCTAssertThrowsError(try JSONParser.parse(bad), "accepted \(bad)")
        }
    }

    func testInvalidUTF8IsRefusedWithItsOffset() {
        for (bytes, offset) in [([0x22, 0x61, 0xFF, 0x22], 2), ([0x22, 0xC0, 0x80, 0x22], 1),
                                ([0x22, 0xED, 0xA0, 0x80, 0x22], 1), ([0x22, 0xE2, 0x82], 1)] as [([UInt8], Int)] {
            XCTAssertThrowsError(try JSONParser.parse(bytes)) { error in
                XCTAssertEqual(error as? ProtocolError, .invalidUTF8(offset: offset))
            }
        }
        XCTAssertEqual(try JSONParser.parse(Array("\"€😀\"".utf8)), .string("€😀"))
    }

    func testDepthLimit() {
        let deep = String(repeating: "[", count: JSONLimits.maxDepth + 1) + String(repeating: "]", count: JSONLimits.maxDepth + 1)
        XCTAssertThrowsError(try JSONParser.parse(deep))
        let ok = String(repeating: "[", count: JSONLimits.maxDepth) + String(repeating: "]", count: JSONLimits.maxDepth)
        XCTAssertNoThrow(try JSONParser.parse(ok))
    }
}
