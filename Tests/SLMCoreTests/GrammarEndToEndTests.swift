import Foundation
import SLMJSON
import XCTest

@testable import SLMCore

/// Grammar-constrained generation on SmolLM2: greedy output equal to llama.cpp's for the same
/// grammar, prompt and file (goldens by scripts/make-grammar-goldens.sh), and sampled output that
/// every grammar of llama.cpp's grammars/ folder accepts.
final class GrammarEndToEndTests: XCTestCase {
    let model = RealModelGolden(modelPath: TestModels.smolLM2, goldenName: "smollm2-135m-q4_1.json")

    func grammar(_ name: String) throws -> String {
        let data = try (try? TestModels.fixture("grammar-greedy/" + name)) ?? TestModels.fixture("llama-grammars/" + name)
        return String(decoding: data, as: UTF8.self)
    }

    func testGreedyConstrainedOutputEqualsLlamaCpp() throws {
        let engine = try model.engine()
        let golden = try JSONParser.parse(Array(try TestModels.fixture("grammar-greedy/cases.json")))
        let cases = try XCTUnwrap(golden["cases"]?.arrayValue)
        XCTAssertEqual(cases.count, 5)
        let state = try engine.makeState(contextLength: 2048)
        for c in cases {
            let name = c["name"]!.stringValue!
            var request = GenerationRequest(prompt: c["prompt"]!.stringValue!)
            request.maxTokens = Int(c["max_tokens"]!.integerValue!)
            request.sampling = .greedy
            request.sampling.grammar = try grammar(c["grammar_file"]!.stringValue!)
            XCTAssertEqual(engine.promptTokens(for: request), c["prompt_tokens"]!.arrayValue!.map { Int32($0.integerValue!) }, name)
            var text = ""
            let stats = try engine.generate(request, state: state) {
                text += $0
                return true
            }
            XCTAssertEqual(text, c["output"]!.stringValue!, name)
            let expectedStop: GenerationStats.StopReason = c["stopped"]!.stringValue! == "length" ? .maxTokens : .endOfGeneration
            XCTAssertEqual(stats.stopReason, expectedStop, name)
        }
    }

    /// Temperature 1.0, 8 seeds per grammar: every finished output is a complete match (JSON
    /// parses), and a generation cut by the token limit is still a valid prefix. CI runs 96
    /// tokens; `SLM_GRAMMAR_SAMPLING_TOKENS` sets another limit (scripts/grammar-sampling.sh
    /// runs the long version).
    func testSampledOutputsMatchEveryLlamaCppGrammar() throws {
        let engine = try model.engine()
        let maxTokens = ProcessInfo.processInfo.environment["SLM_GRAMMAR_SAMPLING_TOKENS"].flatMap { Int($0) } ?? 96
        let state = try engine.makeState(contextLength: maxTokens + 64)  // the prompts are under 20 tokens
        let prompts: [String: String] = [
            "arithmetic.gbnf": "Write one arithmetic equation:\n",
            "c.gbnf": "A tiny C function:\n",
            "chess.gbnf": "The first three moves of a chess game:\n",
            "english.gbnf": "One short sentence about cats:\n",
            "japanese.gbnf": "日本語の短い文:\n",
            "json.gbnf": "A small JSON object describing a cat:\n",
            "json_arr.gbnf": "A JSON array of two colours:\n",
            "list.gbnf": "A short shopping list:\n",
        ]
        let names = try FileManager.default.contentsOfDirectory(
            atPath: Bundle.module.resourcePath! + "/Fixtures/llama-grammars"
        ).filter { $0.hasSuffix(".gbnf") }.sorted()
        XCTAssertEqual(names, prompts.keys.sorted())
        var finished: [String: Int] = [:]
        let session = Session(engine: engine, state: state)
        for name in names {
            let text = try grammar(name)
            let parsed = try Grammar(parsing: text)
            for seed in 1...8 {
                var options = GenerationOptions()
                options.maxTokens = maxTokens
                options.sampling.temperature = 1.0
                options.sampling.seed = UInt64(seed)
                options.sampling.grammar = text
                let prompt = engine.tokenizer.encode(prompts[name]!, addSpecial: true, parseSpecial: true)
                let generation = try session.startGeneration(promptTokens: prompt, options: options)
                let stats = try generation.run { _ in true }
                // The bytes the model produced (a cut generation may end inside a character).
                let bytes = generation.generatedTokens.flatMap { engine.tokenizer.piece($0) }
                let matcher = GrammarMatcher(grammar: parsed)
                XCTAssertTrue(matcher.accept(bytes: bytes), "\(name) seed \(seed): \(generation.text)")
                if stats.stopReason == .endOfGeneration {
                    finished[name, default: 0] += 1
                    XCTAssertTrue(matcher.canEnd, "\(name) seed \(seed) ended early: \(generation.text)")
                    if name.hasPrefix("json") {
                        XCTAssertNoThrow(try JSONParser.parse(generation.text), "\(name) seed \(seed): \(generation.text)")
                    }
                } else {
                    XCTAssertEqual(stats.stopReason, .maxTokens, "\(name) seed \(seed)")
                }
            }
        }
        print(
            "grammar sampling, generations that ended on their own (of 8, within \(maxTokens) tokens): \(finished.sorted { $0.key < $1.key })"
        )
    }
}
