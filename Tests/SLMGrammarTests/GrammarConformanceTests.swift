import Foundation
import SLMJSON
import XCTest

@testable import SLMGrammar

/// llama.cpp's own grammar tests as conformance cases, extracted from its sources by
/// scripts/make-grammar-fixtures.py: the parser's rule layout (test-grammar-parser.cpp) and the
/// strings each grammar accepts and rejects (test-grammar-integration.cpp).
final class GrammarConformanceTests: XCTestCase {
    func testParserCasesMatchLlamaCpp() throws {
        let cases = try GrammarFixtures.load("grammar-parser.json")
        XCTAssertGreaterThan(cases.count, 20)
        for (i, c) in cases.enumerated() {
            let text = c["grammar"]!.stringValue!
            if c["ok"] == .bool(false) {
                XCTAssertThrowsError(try GrammarParser.parse(text, tokenID: nil), "case \(i) should fail:\n\(text)")
                continue
            }
            let parsed: GrammarParser.Parsed
            do {
                parsed = try GrammarParser.parse(text, tokenID: nil)
            } catch {
                XCTFail("case \(i) failed to parse: \(error)\n\(text)")
                continue
            }
            var expectedSymbols: [String: UInt32] = [:]
            for pair in c["symbols"]!.arrayValue! {
                expectedSymbols[pair.arrayValue![0].stringValue!] = UInt32(pair.arrayValue![1].integerValue!)
            }
            XCTAssertEqual(parsed.symbolIDs, expectedSymbols, "case \(i) symbols:\n\(text)")
            let expected = c["elements"]!.arrayValue!.map { e -> String in
                "\(e.arrayValue![0].stringValue!) \(e.arrayValue![1].integerValue!)"
            }
            let actual = parsed.rules.flatMap { $0 }.map { "\($0.kind.llamaName) \($0.value)" }
            XCTAssertEqual(actual, expected, "case \(i) elements:\n\(text)")
        }
    }

    func testIntegrationGrammarCasesMatchLlamaCpp() throws {
        let cases = try GrammarFixtures.load("grammar-integration.json")
        var checked = 0
        for c in cases {
            let kind = c["kind"]!.stringValue!
            let where_ = "\(c["description"]!.stringValue!) (line \(c["line"]!.integerValue!))"
            switch kind {
            case "grammar":
                let grammar = try XCTUnwrap(try? Grammar(parsing: c["grammar"]!.stringValue!), where_)
                checked += try assertStrings(c, grammar: grammar, where_)
            case "schema":
                continue  // JSONSchemaGrammarTests runs these through the converter
            case "build_fails":
                XCTAssertThrowsError(
                    try Grammar(parsing: c["grammar"]!.stringValue!, root: c["root"]?.stringValue ?? "root"), where_)
            case "build_ok":
                XCTAssertNoThrow(try Grammar(parsing: c["grammar"]!.stringValue!, root: c["root"]!.stringValue!), where_)
            case "parse_fails":
                XCTAssertThrowsError(try GrammarParser.parse(c["grammar"]!.stringValue!, tokenID: nil), where_)
            case "parse_ok":
                let parsed = try GrammarParser.parse(c["grammar"]!.stringValue!, tokenID: nil)
                for absent in c["absent_symbols"]?.arrayValue ?? [] {
                    XCTAssertNil(parsed.symbolIDs[absent.stringValue!], where_)
                }
            default:
                XCTFail("unknown fixture kind \(kind)")
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }

    /// Runs a case's passing and failing strings; returns how many were checked.
    func assertStrings(_ c: JSONValue, grammar: Grammar, _ where_: String) throws -> Int {
        let matcher = GrammarMatcher(grammar: grammar)
        var n = 0
        for (list, expected) in [("passing", true), ("failing", false)] {
            for s in c[list]!.arrayValue! {
                matcher.reset()
                let accepted = GrammarFixtures.feed(s, to: matcher) && matcher.canEnd
                XCTAssertEqual(accepted, expected, "\(where_): \(list) string \(GrammarFixtures.describe(s))")
                n += 1
            }
        }
        return n
    }
}

/// Reading the fixtures and feeding their test strings.
enum GrammarFixtures {
    static func load(_ name: String) throws -> [JSONValue] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil))
        return try XCTUnwrap(JSONParser.parse(try Data(contentsOf: url).map { $0 }).arrayValue)
    }

    /// A test string is parts: text, raw hex bytes, or a token id. As in llama.cpp's test, text
    /// goes in one code point at a time, each as a token with id 0 (so `!<[11]>` matches it),
    /// with invalid UTF-8 as U+FFFD.
    static func feed(_ parts: JSONValue, to matcher: GrammarMatcher) -> Bool {
        for part in parts.arrayValue! {
            if let text = part["text"]?.stringValue {
                for scalar in text.unicodeScalars where !accept(scalar, matcher) { return false }
            } else if let hex = part["hex"]?.stringValue {
                var bytes: [UInt8] = []
                var i = hex.startIndex
                while i < hex.endIndex {
                    let j = hex.index(i, offsetBy: 2)
                    bytes.append(UInt8(hex[i..<j], radix: 16)!)
                    i = j
                }
                for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars where !accept(scalar, matcher) { return false }
            } else if let token = part["token"]?.integerValue {
                if !matcher.accept(token: Int32(token), bytes: Array("<[\(token)]>".utf8)) { return false }
            }
        }
        return true
    }

    private static func accept(_ scalar: Unicode.Scalar, _ matcher: GrammarMatcher) -> Bool {
        matcher.accept(token: 0, bytes: Array(String(Character(scalar)).utf8))
    }

    static func describe(_ parts: JSONValue) -> String {
        parts.arrayValue!.map { p in
            p["text"]?.stringValue.map { "\"\($0)\"" } ?? p["hex"]?.stringValue.map { "0x\($0)" } ?? "<[\(p["token"]!.integerValue!)]>"
        }.joined(separator: " + ")
    }
}
