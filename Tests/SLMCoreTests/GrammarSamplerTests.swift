import XCTest

@testable import SLMCore

/// The sampler under a grammar, on a made-up vocabulary: only allowed tokens come out, every
/// setting applies among them, end of text only where the grammar may end.
final class GrammarSamplerTests: XCTestCase {
    // 0 "a", 1 "b", 2 "c", 3 "ab", 4 "!", 5 end of generation
    let vocabulary = GrammarVocabulary(pieces: ["a", "b", "c", "ab", "!", ""].map { Array($0.utf8) }, endOfGeneration: [5])

    func constraint(_ text: String) throws -> TokenConstraint {
        TokenConstraint(grammar: try Grammar(parsing: text), vocabulary: vocabulary)
    }

    func sample(_ logits: [Float], _ parameters: SamplingParameters, _ c: TokenConstraint) throws -> Int32 {
        var sampler = Sampler(parameters: parameters)
        var copy = logits
        return try copy.withUnsafeMutableBufferPointer { (l) throws(SamplingError) in try sampler.sample(logits: l, constraint: c) }
    }

    func testGreedyTakesTheMostLikelyAllowedToken() throws {
        let c = try constraint(#"root ::= [bc]+ "!""#)
        // "a" is the most likely but not allowed; "c" beats "b".
        XCTAssertEqual(try sample([9, 1, 2, 8, 0, 7], .greedy, c), 2)
        XCTAssertTrue(c.accept(2))
        // End of text is the most likely but not allowed before "!"; "!" beats "c".
        XCTAssertEqual(try sample([0, 1, 2, 0, 3, 9], .greedy, c), 4)
        XCTAssertTrue(c.accept(4))
        XCTAssertTrue(c.isComplete)
        XCTAssertEqual(try sample([9, 9, 9, 9, 9, 0], .greedy, c), 5)
    }

    func testTopKKeepsTheKMostLikelyAllowedTokens() throws {
        let c = try constraint(#"root ::= [abc!]"#)
        var p = SamplingParameters()
        p.temperature = 1
        p.topK = 2
        p.topP = 1
        p.minP = 0
        var seen = Set<Int32>()
        for seed in 0..<200 {
            p.seed = UInt64(seed)
            // "ab" (3) is the most likely token but cannot follow; the two best allowed are 1 and 2.
            seen.insert(try sample([0, 2, 1.5, 5, -1, 4], p, c))
        }
        XCTAssertEqual(seen, [1, 2])
        p.topK = 0  // every allowed token, through the full mask
        seen = []
        for seed in 0..<400 {
            p.seed = UInt64(seed)
            seen.insert(try sample([0, 2, 1.5, 5, 1, 4], p, c))
        }
        XCTAssertEqual(seen, [0, 1, 2, 4])
    }

    func testNoTokenCanContinueIsAnError() throws {
        let c = try constraint(#"root ::= "z""#)
        XCTAssertThrowsError(try sample([1, 2, 3, 4, 5, 6], .greedy, c)) { XCTAssertEqual($0 as? SamplingError, .grammarDeadEnd) }
        var p = SamplingParameters()
        p.seed = 1
        XCTAssertThrowsError(try sample([1, 2, 3, 4, 5, 6], p, c)) { XCTAssertEqual($0 as? SamplingError, .grammarDeadEnd) }
    }

    func testConstraintFieldsInTheJSONForm() throws {
        var p = try SamplingParameters(json: .object([("grammar", .string(#"root ::= "a""#)), ("seed", .int(1))]))
        XCTAssertEqual(p.grammar, #"root ::= "a""#)
        XCTAssertEqual(try SamplingParameters(json: p.json), p)
        p = try SamplingParameters(json: .object([("json_schema", .object([])), ("seed", .int(1))]))
        XCTAssertEqual(try p.constraintGrammar(), JSONSchemaGrammar.anyJSONValue)
        XCTAssertThrowsError(try SamplingParameters(json: .object([("grammar", .int(1))])))
        XCTAssertThrowsError(try SamplingParameters(json: .object([("json_schema", .string("{}"))])))
        XCTAssertThrowsError(try SamplingParameters(json: .object([("grammar", .string("root ::= \"a\"")), ("json_schema", .object([]))])))
        {
            XCTAssertTrue("\($0)".hasPrefix("grammar"), "\($0)")
        }
    }
}
