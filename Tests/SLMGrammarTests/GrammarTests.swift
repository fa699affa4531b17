import SLMJSON
import XCTest

@testable import SLMGrammar

/// slm's own grammar behaviour beyond llama.cpp's cases: errors, limits, the byte-level matcher
/// and the token trie.
final class GrammarTests: XCTestCase {
    func testErrorsNameLineColumnAndRule() {
        XCTAssertThrowsError(try Grammar(parsing: "root ::= item\nitem ::= [abc\n")) { error in
            let e = error as! GrammarError
            XCTAssertEqual(e.line, 2)
            XCTAssertEqual(e.rule, "item")
            XCTAssertTrue(e.description.contains("line 2, column"), e.description)
        }
        XCTAssertThrowsError(try Grammar(parsing: "root ::= \"é\" \\q")) { error in
            let e = error as! GrammarError
            XCTAssertEqual(e.line, 1)
            XCTAssertEqual(e.column, 14)  // counted in characters: é is one
        }
        XCTAssertThrowsError(try Grammar(parsing: "root ::= value\nvalue ::= numbr\nnumber ::= [0-9]+")) { error in
            XCTAssertEqual((error as! GrammarError).rule, "numbr")
            XCTAssertTrue("\(error)".contains("\"numbr\" is used but not defined"), "\(error)")
        }
        XCTAssertThrowsError(try Grammar(parsing: "start ::= \"a\"")) { error in
            XCTAssertTrue("\(error)".contains("no rule named \"root\""), "\(error)")
        }
        XCTAssertNoThrow(try Grammar(parsing: "start ::= \"a\"", root: "start"))
        XCTAssertThrowsError(try Grammar(parsing: "root ::= <think>")) { error in
            XCTAssertTrue("\(error)".contains("vocabulary"), "\(error)")
        }
        XCTAssertThrowsError(try Grammar(parsing: "root ::= [z-a]"))
        XCTAssertThrowsError(try Grammar(parsing: "root ::= \"a\"\0"))
        XCTAssertThrowsError(try Grammar(parsing: ""))
        XCTAssertThrowsError(try Grammar(parsing: "# only a comment\n"))
    }

    func testLoopsThatCannotEndAreRefusedWithTheirPath() {
        for text in [
            "root ::= \"x\"?*",  // an empty loop, as llama.cpp refuses it
            "root ::= (\"\")*",
            "root ::= a\na ::= b a \"z\" | \"w\"\nb ::= c\nc ::= \"x\" |",  // grows the stack; llama.cpp hangs
            "root ::= x\nx ::= y \"1\"\ny ::= x \"2\" | \"3\"",
        ] {
            XCTAssertThrowsError(try Grammar(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains("can reach itself without consuming input"), "\(error)")
                XCTAssertTrue("\(error)".contains("→"), "\(error)")
            }
        }
        // Harmless loops (they never grow the stack) are accepted, as in llama.cpp.
        for text in ["root ::= ( [x]* )*", "root ::= (\"x\"?)*", "root ::= a\na ::= b\nb ::= \"x\" a | \"y\""] {
            XCTAssertNoThrow(try Grammar(parsing: text), text)
        }
    }

    /// Found by the grammar fuzzer: a pattern class with a range out of order must be the
    /// schema's error, not a grammar that fails to parse.
    func testPatternClassOutOfOrderIsASchemaError() {
        let schema = JSONValue.object([("type", .string("string")), ("pattern", .string(#"^[A[-Z]{3}-\d{3}$"#))])
        XCTAssertThrowsError(try JSONSchemaGrammar.grammar(for: schema)) { error in
            XCTAssertTrue("\(error)".contains("range ends before it starts"), "\(error)")
        }
        XCTAssertNoThrow(
            try Grammar(parsing: JSONSchemaGrammar.grammar(for: .object([("type", .string("string")), ("pattern", .string("^[A-Z[]+$"))]))))
    }

    func testLimits() {
        XCTAssertThrowsError(try Grammar(parsing: "root ::= \"a\"{2001}"))
        XCTAssertThrowsError(try Grammar(parsing: "root ::= (\"a\"{0,100}){0,100}"))
        XCTAssertThrowsError(try Grammar(parsing: "root ::= \"a\"{99999999999999999999999}"))
        let deep = "root ::= " + String(repeating: "(", count: 300) + "\"a\"" + String(repeating: ")", count: 300)
        XCTAssertThrowsError(try Grammar(parsing: deep)) { error in
            XCTAssertTrue("\(error)".contains("nested"), "\(error)")
        }
        let big = "root ::= \"" + String(repeating: "a", count: GrammarLimits.maxTextBytes) + "\""
        XCTAssertThrowsError(try Grammar(parsing: big))
    }

    func testMatcherCarriesPartialCharactersAcrossPieces() throws {
        let grammar = try Grammar(parsing: "root ::= \"é\" [^a]* \"!\"")
        let m = GrammarMatcher(grammar: grammar)
        XCTAssertTrue(m.accept(bytes: [0xC3]))
        XCTAssertFalse(m.canEnd)
        XCTAssertFalse(m.accept(bytes: [0xA8]))  // è, not é
        XCTAssertTrue(m.accept(bytes: [0xA9]))
        XCTAssertFalse(m.accept(bytes: Array("a".utf8)))
        XCTAssertFalse(m.accept(bytes: [0xFF]))  // never valid UTF-8
        XCTAssertFalse(m.accept(bytes: [0x80]))  // a stray continuation byte
        XCTAssertTrue(m.accept(bytes: Array("日本".utf8)))
        XCTAssertTrue(m.accept(bytes: Array("!".utf8)))
        XCTAssertTrue(m.canEnd)
        XCTAssertFalse(m.isComplete)  // "!" also fits [^a]*, so more may follow
    }

    func testCompleteWhenNothingCanFollow() throws {
        let m = GrammarMatcher(grammar: try Grammar(parsing: "root ::= \"yes\" | \"no\""))
        XCTAssertTrue(m.accept(bytes: Array("ye".utf8)))
        XCTAssertFalse(m.canEnd)
        XCTAssertTrue(m.accept(bytes: Array("s".utf8)))
        XCTAssertTrue(m.canEnd)
        XCTAssertTrue(m.isComplete)
        let open = GrammarMatcher(grammar: try Grammar(parsing: "root ::= [0-9]+"))
        XCTAssertTrue(open.accept(bytes: Array("42".utf8)))
        XCTAssertTrue(open.canEnd)
        XCTAssertFalse(open.isComplete)
    }

    /// The trie walk must allow exactly the tokens a one-by-one check allows, in every state
    /// along a path, including tokens that split or finish a multi-byte character.
    func testTrieMaskEqualsTokenByTokenCheck() throws {
        var pieces: [[UInt8]] = [[]]  // 0: a control token
        for s in [
            "{", "}", "\"", "\"a", "a", "ab", "abc", "b", ":", ",", " ", " \"", "\":", "1", "12", "-", "é", "日本", "true", "tr", "ue",
            "null", "\\", "\\n", "x\"", "\n",
        ] {
            pieces.append(Array(s.utf8))
        }
        pieces.append([0xC3])
        pieces.append([0xA9])
        pieces.append([0xE6, 0x97])
        pieces.append([0xA5])
        pieces.append([0xFF])
        let eos = Int32(pieces.count)
        pieces.append([])  // end of generation
        let vocabulary = GrammarVocabulary(pieces: pieces, endOfGeneration: [eos])
        let grammars = [
            #"root ::= "{" ws "\"" [a-z]+ "\"" ws ":" ws value ws "}"  value ::= "true" | "null" | "-"? [0-9]+ | "\"" [^"\\]* "\""  ws ::= [ \n]*"#
                .replacingOccurrences(of: "  ", with: "\n"),
            #"root ::= [^a]* "!""#,
            #"root ::= ("é" | "日本")+"#,
        ]
        var random = SystemRandomNumberGenerator()
        for text in grammars {
            let constraint = TokenConstraint(grammar: try Grammar(parsing: text), vocabulary: vocabulary)
            for _ in 0..<40 {
                let mask = try constraint.allowedMask()
                var allowed: [Int32] = []
                for id in 0..<Int32(pieces.count) {
                    let bit = mask[Int(id) >> 6] >> UInt64(id & 63) & 1 == 1
                    XCTAssertEqual(bit, constraint.allows(id), "\(text): token \(id) \(pieces[Int(id)])")
                    if bit { allowed.append(id) }
                }
                XCTAssertEqual(mask[Int(eos) >> 6] >> UInt64(eos & 63) & 1 == 1, constraint.canEnd)
                let next = allowed.filter { $0 != eos }
                guard let pick = next.randomElement(using: &random) else { break }
                XCTAssertTrue(constraint.accept(pick))
            }
        }
    }

    func testTokenReferencesAllowControlTokens() throws {
        let pieces: [[UInt8]] = [[], Array("a".utf8), Array("b".utf8), []]
        let vocabulary = GrammarVocabulary(pieces: pieces, endOfGeneration: [3])
        let c = TokenConstraint(grammar: try Grammar(parsing: "root ::= <[0]> [ab]+ !<[0]>"), vocabulary: vocabulary)
        XCTAssertEqual(try c.allowedMask()[0] & 0b1111, 0b0001)
        XCTAssertTrue(c.accept(0))
        XCTAssertTrue(c.accept(1))
        XCTAssertFalse(c.allows(0))
        XCTAssertTrue(c.allows(2))
    }
}
