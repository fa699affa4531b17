import Foundation
import SLMJSON
import XCTest

@testable import SLMGrammar

/// JSON Schema → GBNF against llama.cpp's tests/test-json-schema-to-grammar.cpp (extracted to
/// Fixtures/json-schema-to-grammar.json): the same grammar text for every success case except the
/// few listed in `deliberateDivergences`, and an error for every failure case. Then our own
/// cases: refusals llama.cpp does not make, recursion, and the size bounds.
final class JSONSchemaGrammarTests: XCTestCase {
    /// Cases where we knowingly differ from llama.cpp, each with the reason. `nil` means we refuse
    /// the schema; a string is the grammar we write instead.
    static let deliberateDivergences: [String: (reason: String, ourGrammar: String?)] = [
        // llama.cpp keeps "items" and silently drops "prefixItems"; we refuse rather than drop.
        "array with empty items and prefixItems": ("prefixItems beside items is refused, not dropped", nil),
        // llama.cpp falls back to "any string" (with a warning) for patterns it cannot translate;
        // a pattern is a constraint, so we refuse instead of accepting strings it forbids.
        "unanchored regexp": ("an unanchored pattern is refused, not widened to any string", nil),
        "unsupported regexp in a property": ("lookahead is refused, not widened to any string", nil),
        // \w has a translation (ASCII word characters), so the pattern is enforced instead of
        // being widened to any string.
        "regexp with unsupported shorthand": (
            "\\w is translated",
            """
            root ::= "\\"" (root-1{3,3} [a-zA-Z0-9_]) "\\""
            root-1 ::= [0-9]
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
        // Integer bounds: llama.cpp's digit-by-digit rule is not exact everywhere. Where the
        // negative magnitudes of a range crossing zero start at 0 it admits "-0" (the value is in
        // range, but it is not JSON's canonical spelling, and the number path refuses it too);
        // below a negative maximum it writes the magnitude with leading zeros allowed, so it
        // admits "-01" and "-00" (not JSON at all). IntegerBoundsTests checks, for each of these,
        // that llama.cpp's text admits the bad string and that ours accepts exactly the integers
        // in range.
        "min -5": (
            "-0 is refused: negative magnitudes start at 1",
            """
            root ::= ("-" ([1-5]) | [0] | [1-9] [0-9]{0,15})
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
        "min -123": (
            "-0 is refused: negative magnitudes start at 1",
            """
            root ::= ("-" ([1-9] | ([1-8] [0-9] | [9] [0-9]) | "1" ([0-1] [0-9] | [2] [0-3])) | [0] | [1-9] [0-9]{0,15})
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
        "max -5": (
            "-01 and -00 are refused: the magnitude has no leading zero",
            """
            root ::= ("-" ([1-4] [0-9]{1,15} | [5-9] [0-9]{0,15}))
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
        "min -123 max 42": (
            "-0 is refused: negative magnitudes start at 1",
            """
            root ::= ("-" ([1-9] | ([1-8] [0-9] | [9] [0-9]) | "1" ([0-1] [0-9] | [2] [0-3])) | [0-9] | ([1-3] [0-9] | [4] [0-2]))
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
        "min -10 max 10": (
            "-0 is refused: negative magnitudes start at 1",
            """
            root ::= ("-" ([1-9] | "10") | [0-9] | "10")
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
        "min + max items with min + max values across zero": (
            "-0 is refused: negative magnitudes start at 1",
            """
            item ::= ("-" ([1-9] | "1" [0-2]) | [0-9] | ([1-8] [0-9] | [9] [0-9]) | ([1] [0-9]{2} | [2] "0" [0-7]))
            root ::= "[" space item ("," space item){2,4} space "]"
            space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
            """
        ),
    ]

    func testLlamaCppCases() throws {
        let cases = try Self.loadFixture("json-schema-to-grammar.json")
        XCTAssertGreaterThan(cases.count, 80)
        var exactMatches = 0
        for c in cases {
            let name = c["name"]!.stringValue!
            var schema = try JSONParser.parse(c["schema"]!.stringValue!)
            if name == "sub-schema $ref" {
                // llama.cpp converts the property's schema ({"$ref": "#/$defs/item"}) inside the
                // document; converting a document made of that $ref and the same $defs is the same.
                let itemReference = schema["properties"]!["item"]!
                schema = .object([("$ref", itemReference["$ref"]!), ("$defs", schema["$defs"]!)])
            }
            let expectFailure = c["expect"]!.stringValue! == "failure"
            if let divergence = Self.deliberateDivergences[name] {
                if let ours = divergence.ourGrammar {
                    XCTAssertEqual(try Self.trimmed(JSONSchemaGrammar.grammar(for: schema)), ours, name)
                } else {
                    XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: schema), "\(name): \(divergence.reason)")
                }
                continue
            }
            if expectFailure {
                XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: schema), name)
                continue
            }
            let grammar: String
            do {
                grammar = try JSONSchemaGrammar.grammar(for: schema)
            } catch {
                XCTFail("\(name): \(error)")
                continue
            }
            guard let expected = c["grammar"]?.stringValue else {
                // "parsed document": llama.cpp only checks that conversion succeeds (recursive $ref).
                XCTAssertTrue(grammar.contains("ref-defs-node-next ::= ref-defs-node\n"), name)
                continue
            }
            XCTAssertEqual(Self.trimmed(grammar), expected, name)
            if Self.trimmed(grammar) == expected { exactMatches += 1 }
        }
        // 69 of the 80 success cases; the other 11 are the divergences above and "parsed document"
        // (no expected text). "sub-schema $ref" counts, compared through the document wrapper.
        XCTAssertEqual(exactMatches, 69)
    }

    func testAnyJSONValueIsTheEmptySchemaGrammar() throws {
        XCTAssertEqual(JSONSchemaGrammar.anyJSONValue, try JSONSchemaGrammar.grammar(for: .object([])))
        XCTAssertEqual(JSONSchemaGrammar.anyJSONValue, try JSONSchemaGrammar.grammar(for: .bool(true)))
        XCTAssertTrue(JSONSchemaGrammar.anyJSONValue.contains("root ::= value\n"))
    }

    // MARK: refusals

    func testUnsupportedKeywordNamesKeywordAndPointer() {
        assertRefused(
            #"{"type":"object","properties":{"a":{"type":"integer","multipleOf":3}}}"#,
            at: "/properties/a/multipleOf", mentioning: "multipleOf")
        assertRefused(#"{"type":"array","items":{"type":"string"},"uniqueItems":true}"#, at: "/uniqueItems", mentioning: "uniqueItems")
        assertRefused(#"{"not":{"type":"string"}}"#, at: "/not", mentioning: "not")
        assertRefused(#"{"if":{"type":"string"},"then":{"minLength":2}}"#, at: "/if", mentioning: "if")
        assertRefused(#"{"type":"object","patternProperties":{"^a":{}}}"#, at: "/patternProperties", mentioning: "patternProperties")
        assertRefused(#"{"type":"object","minProperties":1}"#, at: "/minProperties", mentioning: "minProperties")
        // a typo is not silently ignored either
        assertRefused(#"{"type":"string","maxLenght":3}"#, at: "/maxLenght", mentioning: "maxLenght")
        // keys in JSON pointers are escaped (RFC 6901)
        assertRefused(
            #"{"properties":{"a/b~":{"type":"integer","multipleOf":2}}}"#, at: "/properties/a~1b~0/multipleOf", mentioning: "multipleOf")
    }

    func testKeywordsLlamaCppIgnoresAreRefused() {
        // llama.cpp drops number bounds; we enforce them (NumberBoundsTests), but only where the
        // schema says the value is a number: without a type, any non-number would also be valid.
        XCTAssertNoThrow(try grammar(#"{"type":"number","minimum":0}"#))
        assertRefused(#"{"minimum":0}"#, at: "/minimum", mentioning: "minimum")
        assertRefused(#"{"type":"number","minimum":0,"multipleOf":2}"#, at: "/multipleOf", mentioning: "multipleOf")
        assertRefused(#"{"type":"string","pattern":"^a+$","maxLength":3}"#, at: "/maxLength", mentioning: "maxLength")
        assertRefused(#"{"type":"string","format":"date","minLength":3}"#, at: "/minLength", mentioning: "minLength")
        assertRefused(#"{"type":"string","format":"email"}"#, at: "/format", mentioning: "email")
        assertRefused(#"{"type":"integer","format":"int32"}"#, at: "/format", mentioning: "int32")
        assertRefused(##"{"$ref":"#/$defs/a","type":"string","$defs":{"a":{"type":"string"}}}"##, at: "/type", mentioning: "$ref")
        assertRefused(#"{"anyOf":[{"type":"string"}],"oneOf":[{"type":"null"}]}"#, at: "/anyOf", mentioning: "oneOf")
        assertRefused(#"{"anyOf":[{"type":"string"},{"type":"integer"}],"type":"string"}"#, at: "/type", mentioning: "type")
        assertRefused(#"{"type":"string","enum":["a",1]}"#, at: "/enum/1", mentioning: "type")
        assertRefused(#"{"const":"a","minLength":3}"#, at: "/minLength", mentioning: "minLength")
        assertRefused(#"{"const":"a","enum":["b"]}"#, at: "/enum", mentioning: "const")
        assertRefused(#"{"type":"object","properties":{"a":{}},"required":["b"]}"#, at: "/required/0", mentioning: "\"b\"")
        assertRefused(#"{"type":"object","properties":{"a":{}},"allOf":[{"properties":{"b":{}}}]}"#, at: "/allOf", mentioning: "allOf")
        assertRefused(#"{"allOf":[{"type":"string"},{"minLength":2}]}"#, at: "/allOf", mentioning: "allOf")
        assertRefused(#"{"allOf":[{"enum":["a"]},{"enum":["b"]}]}"#, at: "/allOf", mentioning: "common")
        assertRefused(
            #"{"allOf":[{"properties":{"a":{}},"additionalProperties":false},{"properties":{"b":{}}}]}"#,
            at: "/allOf", mentioning: "additionalProperties")
        assertRefused(
            #"{"allOf":[{"properties":{"a":{"type":"string"}}},{"properties":{"a":{"type":"integer"}}}]}"#,
            at: "/allOf", mentioning: "\"a\"")
        assertRefused(#"{"prefixItems":[{"type":"string"}],"minItems":2}"#, at: "", mentioning: "minItems")
        assertRefused(#"{"type":"integer","minimum":5,"maximum":3}"#, at: "", mentioning: "minimum")
        assertRefused(#"{"type":"string","minLength":4,"maxLength":3}"#, at: "/minLength", mentioning: "maxLength")
        assertRefused(#"{"type":"object","properties":{"a":false}}"#, at: "/properties/a", mentioning: "false")
    }

    func testAnnotationsAndExtensionsAreIgnored() throws {
        let plain = try grammar(#"{"type":"string"}"#)
        let annotated = try grammar(
            """
            {"type":"string","title":"t","description":"d","$schema":"x","$id":"y","examples":["a"],
             "default":"a","$comment":"c","deprecated":false,"readOnly":true,"writeOnly":false,"x-order":1}
            """)
        XCTAssertEqual(plain, annotated)
        // a keyword that only applies to another type is vacuous, as JSON Schema says
        XCTAssertEqual(try grammar(#"{"type":"integer","minLength":3}"#), try grammar(#"{"type":"integer"}"#))
        XCTAssertNoThrow(try grammar(#"{"type":["string","null"],"minLength":1}"#))
        XCTAssertNoThrow(try grammar(#"{"anyOf":[{"properties":{"a":{}}}],"type":"object"}"#))
        XCTAssertNoThrow(try grammar(#"{"const":"a","enum":["a"],"type":"string"}"#))
    }

    func testIntegerBoundsFold() throws {
        // exclusive bounds become inclusive ones, fractional bounds round inwards
        XCTAssertEqual(try grammar(#"{"type":"integer","exclusiveMinimum":4}"#), try grammar(#"{"type":"integer","minimum":5}"#))
        XCTAssertEqual(try grammar(#"{"type":"integer","minimum":4.5}"#), try grammar(#"{"type":"integer","minimum":5}"#))
        XCTAssertEqual(
            try grammar(#"{"type":"integer","minimum":1,"exclusiveMinimum":4}"#), try grammar(#"{"type":"integer","minimum":5}"#))
        XCTAssertEqual(try grammar(#"{"type":"integer","exclusiveMaximum":10}"#), try grammar(#"{"type":"integer","maximum":9}"#))
        assertRefused(#"{"type":"integer","minimum":1e300}"#, at: "/minimum", mentioning: "2^53")
    }

    // MARK: patterns

    func testPatternErrorsAndExtensions() throws {
        assertRefused(#"{"type":"string","pattern":"^(?<x>a)$"}"#, at: "/pattern", mentioning: "named")
        assertRefused(#"{"type":"string","pattern":"^(a)\\1$"}"#, at: "/pattern", mentioning: "\\1")
        assertRefused(#"{"type":"string","pattern":"^a\\bb$"}"#, at: "/pattern", mentioning: "\\b")
        assertRefused(#"{"type":"string","pattern":"^a$b$"}"#, at: "/pattern", mentioning: "anchor")
        assertRefused(#"{"type":"string","pattern":"^a{2001}$"}"#, at: "/pattern", mentioning: "2000")
        assertRefused(#"{"type":"string","pattern":"^a**$"}"#, at: "/pattern", mentioning: "repeat")
        assertRefused(#"{"type":"string","pattern":"^a)$"}"#, at: "/pattern", mentioning: "parentheses")
        XCTAssertTrue(try grammar(#"{"type":"string","pattern":"^\\d{3}$"}"#).contains(#"root ::= "\"" (root-1{3,3}) "\"""#))
        XCTAssertTrue(try grammar(#"{"type":"string","pattern":"^[\\w.]+$"}"#).contains("[a-zA-Z0-9_.]+"))
        // a lazy quantifier matches the same strings as the greedy one
        XCTAssertEqual(try grammar(#"{"type":"string","pattern":"^a+?$"}"#), try grammar(#"{"type":"string","pattern":"^a+$"}"#))
        // an escaped character before a quantifier is repeated alone
        XCTAssertTrue(try grammar(#"{"type":"string","pattern":"^ab\\.+$"}"#).contains(#"("ab" "."+)"#))
    }

    // MARK: references

    func testRecursiveReferenceTerminates() throws {
        let text = try grammar(
            """
            {"$ref":"#/$defs/list","$defs":{"list":{"type":"object","properties":{
              "value":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/list"},{"type":"null"}]}},
              "required":["value"]}}}
            """)
        XCTAssertTrue(text.contains("root ::= ref-defs-list\n"))
        XCTAssertTrue(text.contains("ref-defs-list-next-0 ::= ref-defs-list\n"))
        // the root itself
        XCTAssertTrue(try grammar(##"{"type":"array","items":{"$ref":"#"}}"##).contains("item ::= ref\n"))
    }

    func testReferenceErrors() {
        assertRefused(#"{"$ref":"https://example.com/s.json"}"#, at: "/$ref", mentioning: "same document")
        assertRefused(##"{"$ref":"#/$defs/missing","$defs":{}}"##, at: "/$ref", mentioning: "missing")
        // a cycle that writes nothing before coming back is left recursion
        assertRefused(
            ##"{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}"##,
            at: "/$defs/a", mentioning: "left recursion")
        assertRefused(
            ##"{"$ref":"#/$defs/a","$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}}}"##,
            at: "/$defs/a", mentioning: "left recursion")
        assertRefused(
            ##"{"$ref":"#/$defs/a","$defs":{"a":{"allOf":[{"$ref":"#/$defs/a"}]}}}"##,
            at: "/$defs/a/allOf", mentioning: "allOf supports")
        // definitions are checked only where used
        XCTAssertNoThrow(try grammar(#"{"type":"string","$defs":{"unused":{"not":{}}}}"#))
    }

    // MARK: bounds

    func testSizeBounds() {
        assertRefused(#"{"type":"array","maxItems":2001}"#, at: "/maxItems", mentioning: "2000")
        assertRefused(#"{"type":"string","minLength":5000}"#, at: "/minLength", mentioning: "2000")
        XCTAssertNoThrow(try grammar(#"{"type":"string","maxLength":2000}"#))

        // a type array reads allOf once per type, so nesting doubles the work at every level
        var nested = #"{"type":"string"}"#
        for _ in 0..<20 { nested = #"{"type":["object","string"],"allOf":[\#(nested)]}"# }
        XCTAssertThrowsError(try grammar(nested)) { error in
            XCTAssertTrue("\(error)".contains("subschemas"), "\(error)")
        }

        // deep nesting is refused before the stack runs out
        var deep: JSONValue = .object([("type", .string("string"))])
        for _ in 0..<200 { deep = .object([("type", .string("array")), ("items", deep)]) }
        XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: deep)) { error in
            XCTAssertTrue("\(error)".contains("deeper"), "\(error)")
        }

        // many large enums exceed the byte bound
        let bigValue = JSONValue.string(String(repeating: "x", count: 10_000))
        let properties = (0..<150).map { ("p\($0)", JSONValue.object([("enum", .array([bigValue]))])) }
        XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: .object([("properties", .object(properties))]))) { error in
            XCTAssertTrue("\(error)".contains("bytes"), "\(error)")
        }
    }

    func testErrorDescription() {
        let error = JSONSchemaError(pointer: "/properties/a/pattern", reason: "bad")
        XCTAssertEqual(error.description, "bad (at /properties/a/pattern)")
        XCTAssertEqual(JSONSchemaError(pointer: "", reason: "bad").description, "bad (at the schema's root)")
    }

    // MARK: helpers

    private func grammar(_ text: String) throws -> String {
        try JSONSchemaGrammar.grammar(for: JSONParser.parse(text))
    }

    private func assertRefused(_ text: String, at pointer: String, mentioning fragment: String, line: UInt = #line) {
        do {
            let schema = try JSONParser.parse(text)
            let produced = try JSONSchemaGrammar.grammar(for: schema)
            XCTFail("accepted \(text):\n\(produced)", line: line)
        } catch let error as JSONSchemaError {
            XCTAssertEqual(error.pointer, pointer, "\(error)", line: line)
            XCTAssertTrue(error.reason.contains(fragment), "\(error) should mention \(fragment)", line: line)
        } catch {
            XCTFail("\(error)", line: line)
        }
    }

    private static func trimmed(_ grammar: String) -> String {
        var text = Substring(grammar)
        while text.last == "\n" { text = text.dropLast() }
        return String(text)
    }

    /// The fixture next to this file (found from #filePath, so no bundle resources are needed).
    static func loadFixture(_ name: String) throws -> [JSONValue] {
        let here = String(#filePath)
        let directory = here[..<(here.lastIndex(of: "/") ?? here.startIndex)]
        let path = directory + "/Fixtures/" + name
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "missing \(path)")
        return try XCTUnwrap(JSONParser.parse([UInt8](data)).arrayValue)
    }
}

/// llama.cpp's test_schema cases (test-grammar-integration.cpp): our grammar for each schema
/// must accept the strings llama.cpp's accepts and reject the ones it rejects.
extension JSONSchemaGrammarTests {
    /// Schemas of those cases we refuse, with the reason.
    static let refusedIntegrationSchemas: [String: String] = [
        // "tags": {"uniqueItems": true}: llama.cpp drops the constraint; it has no grammar here.
        // (The schema's other dropped constraint, "price": {"exclusiveMinimum": 0}, is enforced.)
        "required props": "uniqueItems is refused, not dropped"
    ]

    func testIntegrationSchemaCasesAcceptWhatLlamaCppAccepts() throws {
        let cases = try Self.loadFixture("grammar-integration.json").filter { $0["kind"]?.stringValue == "schema" }
        XCTAssertGreaterThan(cases.count, 30)
        var checked = 0
        for c in cases {
            let description = c["description"]!.stringValue!
            let schema = try JSONParser.parse(c["schema"]!.stringValue!)
            if let reason = Self.refusedIntegrationSchemas[description] {
                XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: schema), "\(description): \(reason)")
                continue
            }
            let text: String
            let grammar: Grammar
            do {
                text = try JSONSchemaGrammar.grammar(for: schema)
                grammar = try Grammar(parsing: text)
            } catch {
                XCTFail("\(description): \(error)")
                continue
            }
            let matcher = GrammarMatcher(grammar: grammar)
            for (list, expected) in [("passing", true), ("failing", false)] {
                for s in c[list]!.arrayValue! {
                    matcher.reset()
                    let accepted = GrammarFixtures.feed(s, to: matcher) && matcher.canEnd
                    XCTAssertEqual(accepted, expected, "\(description): \(list) \(GrammarFixtures.describe(s))\n\(text)")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 200)
    }
}
