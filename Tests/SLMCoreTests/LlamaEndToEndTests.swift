import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// SmolLM2-135M-Instruct Q4_1 against goldens produced by llama.cpp (scripts/make-goldens.sh).
final class LlamaEndToEndTests: XCTestCase {
    let model = RealModelGolden(modelPath: TestModels.smolLM2, goldenName: "smollm2-135m-q4_1.json")

    func loadEngine() throws -> Engine { try model.engine() }
    func loadGolden() throws -> GoldenFile { try model.golden() }

    func testPromptTokenizationMatchesLlamaCpp() throws {
        let engine = try loadEngine()
        for g in try loadGolden().generations {
            XCTAssertEqual(engine.tokenizer.encode(g.prompt, addSpecial: true, parseSpecial: true), g.prompt_tokens, g.name)
        }
    }

    func testGreedyContinuationsMatchLlamaCpp() throws { try model.checkGreedyContinuations() }

    func testLogitsAtEveryPositionMatchLlamaCpp() throws {
        let golden = try loadGolden().logits
        let tokens = try loadEngine().tokenizer.encode(golden.text, addSpecial: true, parseSpecial: true)
        XCTAssertEqual(Array(tokens.prefix(golden.tokens.count)), golden.tokens)
        try model.checkLogitsAtEveryPosition()
    }

    /// Incremental decoding (one token at a time through the KV cache) must give the logits of a
    /// full batched pass.
    func testIncrementalDecodingMatchesBatch() throws {
        let engine = try loadEngine()
        let tokens = Array(try loadGolden().logits.tokens.prefix(40))
        let state = try engine.makeState(contextLength: 128)
        let batch = try engine.logitsAtEveryPosition(tokens, state: state)
        state.reset()
        var logits: [Float] = []
        for (i, t) in tokens.enumerated() {
            try engine.evaluate([t], state: state, into: &logits)
            let diff = zip(logits, batch[i]).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff, 1e-3, "position \(i)")
        }
    }

    func testSeededSamplingIsReproducibleAndStopsAtLimits() throws {
        let engine = try loadEngine()
        let state = try engine.makeState(contextLength: 256)
        func run(seed: UInt64) throws -> (String, GenerationStats) {
            var request = GenerationRequest(prompt: "Once upon a time")
            request.maxTokens = 24
            request.sampling.seed = seed
            request.sampling.temperature = 0.9
            request.sampling.repeatPenalty = 1.1
            var text = ""
            let stats = try engine.generate(request, state: state) {
                text += $0
                return true
            }
            return (text, stats)
        }
        let (a, statsA) = try run(seed: 42)
        let (b, _) = try run(seed: 42)
        XCTAssertEqual(a, b, "same seed, same output")
        XCTAssertTrue(statsA.generatedTokens == 24 || statsA.stopReason == .endOfGeneration)
        var differs = false
        for seed: UInt64 in 1...4 where try run(seed: seed).0 != a { differs = true }
        XCTAssertTrue(differs, "different seeds should give different samples")
    }

    func testContextFullIsAnErrorNotACrash() throws {
        let engine = try loadEngine()
        let state = try engine.makeState(contextLength: 8)
        var request = GenerationRequest(prompt: String(repeating: "word ", count: 40))
        request.sampling = .greedy
        XCTAssertThrowsError(try engine.generate(request, state: state) { _ in true }) { error in
            guard case ModelError.contextFull = error else { return XCTFail("\(error)") }
        }
        request = GenerationRequest(prompt: "Hi")
        request.sampling = .greedy
        let stats = try engine.generate(request, state: state) { _ in true }
        XCTAssertTrue(stats.stopReason == .contextFull || stats.stopReason == .endOfGeneration, "\(stats.stopReason)")
    }
}
