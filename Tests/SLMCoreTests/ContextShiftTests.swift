import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// llama.cpp's context shift: rows moved down, keys re-rotated to their new positions, and a
/// generation that goes on past the context.
final class ContextShiftTests: XCTestCase {
    /// Layer 0's keys depend only on each token and its position (nothing is attended to before
    /// they are computed), so after a shift they must be the keys computed afresh at the new
    /// positions, up to rounding: the F16 cache rounds each key twice (stored, then re-stored
    /// after rotating; 2^-11 relative each) and the two rotations round in float. Bound on
    /// max |shifted − fresh| / max |fresh| over the moved rows.
    static let keyTolerance: Float = 4e-3
    /// The same bound for quantized caches, whose keys are quantized twice: about two steps of
    /// a block's scale (max |k| / 127 for Q8_0, / 8 for Q4_0); a row moved to the wrong place or
    /// rotated wrongly is off by about max |k| itself.
    static let quantizedKeyTolerance: [KVCacheType: Float] = [.q8_0: 2e-2, .q4_0: 2.5e-1]
    static let context = 64
    static let filled = 48

    /// Fills a state with `tokens[0..<filled]`, shifts keeping the first one (half of the rest
    /// forgotten), and compares layer 0's keys with those of the kept tokens run afresh.
    func checkShiftedKeys(_ model: any LanguageModel, tokens: [Int32], name: String, keyType: KVCacheType = .f16) throws {
        XCTAssertNil(model.contextShiftUnsupportedReason, name)
        let pool = ThreadPool(threads: 2)
        let kept = 1
        let discarded = (Self.filled - kept) / 2
        let moved = Self.filled - kept - discarded
        var logits = [Float](repeating: 0, count: model.vocabularySize)
        func run(_ run: [Int32], in state: InferenceState) throws {
            try run.withUnsafeBufferPointer { t in
                try logits.withUnsafeMutableBufferPointer { out in
                    try model.forward(t, state: state, pool: pool, allLogits: false, logits: out.baseAddress!)
                }
            }
        }
        let types = KVCacheTypes(key: keyType, value: keyType)
        let shifted = try model.makeState(contextLength: Self.context, maxBatch: Self.context, cacheTypes: types)
        try run(Array(tokens[0..<Self.filled]), in: shifted)
        let width = shifted.valueRowBytes
        let lastLayer = shifted.shape.layers - 1
        func bytes(_ rows: UnsafeMutableRawPointer, _ count: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: rows, count: count))
        }
        let valuesBefore = bytes(shifted.valueRows(layer: lastLayer), Self.filled * width)
        let keptKeyBefore = bytes(shifted.keyRows(layer: 0), shifted.keyRowBytes)

        shifted.moveRows(from: kept + discarded, to: kept, count: moved)
        try model.shiftPositions(state: shifted, range: kept..<(kept + moved), by: -discarded)
        shifted.truncate(to: kept + moved)

        // Values move as they are; the kept rows are untouched.
        let valuesAfter = bytes(shifted.valueRows(layer: lastLayer), (kept + moved) * width)
        XCTAssertEqual(Array(valuesAfter[(kept * width)...]), Array(valuesBefore[((kept + discarded) * width)...]), name)
        XCTAssertEqual(bytes(shifted.keyRows(layer: 0), shifted.keyRowBytes), keptKeyBefore, name)

        let fresh = try model.makeState(contextLength: Self.context, maxBatch: Self.context, cacheTypes: types)
        try run(Array(tokens[0..<kept]) + Array(tokens[(kept + discarded)..<Self.filled]), in: fresh)
        var a = [Float](repeating: 0, count: shifted.shape.keyWidth)
        var b = a
        var largest: Float = 0
        var worst: Float = 0
        for position in 0..<(kept + moved) {
            shifted.loadKeyRow(layer: 0, position: position, into: &a)
            fresh.loadKeyRow(layer: 0, position: position, into: &b)
            for i in 0..<a.count {
                largest = max(largest, abs(b[i]))
                worst = max(worst, abs(a[i] - b[i]))
            }
        }
        print("\(name) (\(keyType.rawValue) cache): layer-0 keys after a shift of \(discarded): max |Δ| \(worst) of max |k| \(largest)")
        XCTAssertGreaterThan(largest, 0, name)
        XCTAssertLessThanOrEqual(worst / largest, Self.quantizedKeyTolerance[keyType] ?? Self.keyTolerance, "\(name) \(keyType)")
    }

    /// Every RoPE variant the synthetic models cover: adjacent pairs (llama), NEOX halves with
    /// partial rotary dimensions (stablelm, phi2) and LongRoPE factors with a magnitude (phi3).
    func testShiftedKeysEqualKeysComputedAtTheNewPositionsOnSyntheticModels() throws {
        let golden = try JSONDecoder().decode(
            SyntheticModelTests.Golden.self, from: try TestModels.fixture("goldens/synthetic-logits.json"))
        for name in ["llama-output-f32", "stablelm-f32", "phi2-f32", "phi3-f32"] {
            let path = try SyntheticModelTests.directory() + "/\(name).gguf"
            let model = try ModelRegistry.load(try GGUFFile(path: path))
            try checkShiftedKeys(model, tokens: try XCTUnwrap(golden.models[name]).tokens, name: name)
        }
        let gemma2 = try ModelRegistry.load(try GGUFFile(path: try SyntheticModelTests.directory() + "/gemma2-f32.gguf"))
        XCTAssertNotNil(gemma2.contextShiftUnsupportedReason)
        let state = try gemma2.makeState(contextLength: Self.context, maxBatch: 8)
        XCTAssertThrowsError(try gemma2.shiftPositions(state: state, range: 0..<4, by: -2)) {
            XCTAssertTrue("\($0)".contains("sliding-window"), "\($0)")
        }
    }

    static func countingPrompt(_ engine: Engine, upTo n: Int) -> [Int32] {
        engine.tokenizer.encode((1...n).map(String.init).joined(separator: ", ") + ",", addSpecial: true, parseSpecial: true)
    }

    func testShiftedKeysOnSmolLM2AndTheSessionsTokens() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let tokens = Self.countingPrompt(engine, upTo: 40)
        XCTAssertGreaterThanOrEqual(tokens.count, Self.filled)
        try checkShiftedKeys(engine.model, tokens: tokens, name: "SmolLM2")
        // Quantized caches go through the same row access (the state quantizes and dequantizes).
        try checkShiftedKeys(engine.model, tokens: tokens, name: "SmolLM2", keyType: .q8_0)
        try checkShiftedKeys(engine.model, tokens: tokens, name: "SmolLM2", keyType: .q4_0)

        // Through the session: the cached tokens follow the rows.
        let session = try Session(engine: engine, contextLength: Self.context)
        var logits: [Float] = []
        try engine.evaluate(Array(tokens[0..<Self.filled]), state: session.state, into: &logits)
        session.restoreCachedTokens(Array(tokens[0..<Self.filled]))
        let freed = try session.shiftContext(keeping: 1)
        XCTAssertEqual(freed, (Self.filled - 1) / 2)
        XCTAssertEqual(session.cachedTokens, [tokens[0]] + Array(tokens[(1 + freed)..<Self.filled]))
        XCTAssertEqual(session.state.position, session.cachedTokens.count)
        // A later prompt reuses only the kept part: the moved entries are not what a run gives.
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = 1
        let next = try session.startGeneration(promptTokens: session.cachedTokens + [tokens[Self.filled]], options: options)
        XCTAssertEqual(next.reusedPromptTokens, 1)
    }

    /// After a shift the next tokens are close to, not the same as, those of the kept tokens run
    /// afresh (the moved entries of layers above the first were computed while the forgotten
    /// tokens were visible). On a counting sequence the greedy choice agrees at every step.
    func testTheNextTokensAfterAShiftAgreeWithAFreshRun() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let tokens = Self.countingPrompt(engine, upTo: 40)
        let shifted = try Session(engine: engine, contextLength: Self.context)
        var logits: [Float] = []
        try engine.evaluate(Array(tokens[0..<Self.filled]), state: shifted.state, into: &logits)
        shifted.restoreCachedTokens(Array(tokens[0..<Self.filled]))
        _ = try shifted.shiftContext(keeping: 1)
        let fresh = try engine.makeState(contextLength: Self.context)
        var freshLogits: [Float] = []
        // The last kept token is fed last in both, so both give the logits after it.
        let prefix = Array(shifted.cachedTokens.dropLast())
        shifted.state.truncate(to: prefix.count)
        try engine.evaluate(prefix, state: fresh, into: &freshLogits)
        var next = shifted.cachedTokens.last!
        var agreed = 0
        let steps = 6
        for _ in 0..<steps {
            try engine.evaluate([next], state: shifted.state, into: &logits)
            try engine.evaluate([next], state: fresh, into: &freshLogits)
            let ours = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
            let reference = freshLogits.withUnsafeBufferPointer { Sampler.argmax($0) }
            if ours == reference { agreed += 1 }
            next = reference
        }
        XCTAssertEqual(agreed, steps, "greedy agreement after a shift")
    }

    func testAGenerationRunsPastTheContextWithContextShiftAndStopsWithout() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let prompt = Self.countingPrompt(engine, upTo: 8)
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = 3 * Self.context

        let plain = try Session(engine: engine, contextLength: Self.context)
        let full = try plain.startGeneration(promptTokens: prompt, options: options).run { _ in true }
        XCTAssertEqual(full.stopReason, .contextFull)
        // The last token sampled is never run: the context is full.
        XCTAssertEqual(full.generatedTokens, Self.context - prompt.count + 1)

        options.contextShift = ContextShift(keep: 0)
        let session = try Session(engine: engine, contextLength: Self.context)
        let generation = try session.startGeneration(promptTokens: prompt, options: options)
        let stats = try generation.run { _ in true }
        XCTAssertEqual(stats.stopReason, .maxTokens, generation.text)
        XCTAssertEqual(stats.generatedTokens, 3 * Self.context, "more tokens than the context holds")
        XCTAssertGreaterThanOrEqual(stats.contextShifts, 2)
        XCTAssertEqual(session.cachedTokens.count, session.state.position)
        XCTAssertEqual(session.cachedTokens.first, prompt.first, "keep 0 keeps the first token")
        XCTAssertEqual(Array(session.cachedTokens.suffix(8)), Array(generation.generatedTokens.dropLast().suffix(8)))
        // It still counts after shifting: the last numbers of the text go up by one.
        let numbers = generation.text.split(whereSeparator: { !$0.isNumber }).suffix(4).compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 4, generation.text)
        XCTAssertEqual(zip(numbers, numbers.dropFirst()).filter { $1 == $0 + 1 }.count, 3, generation.text)

        // The same through a quantized cache.
        let quantized = try Session(engine: engine, contextLength: Self.context, cacheTypes: KVCacheTypes(key: .q8_0, value: .q8_0))
        let onQuantized = try quantized.startGeneration(promptTokens: prompt, options: options)
        let quantizedStats = try onQuantized.run { _ in true }
        XCTAssertEqual(quantizedStats.generatedTokens, 3 * Self.context, onQuantized.text)
        XCTAssertGreaterThanOrEqual(quantizedStats.contextShifts, 2)

        // keep -1 keeps the whole prompt; a prompt too long to leave anything to shift is refused.
        options.contextShift = ContextShift(keep: ContextShift.keepWholePrompt)
        let long = Self.countingPrompt(engine, upTo: 40)
        let refused = Array(long.prefix(Self.context - 1))
        XCTAssertThrowsError(
            try Session(engine: engine, contextLength: Self.context).startGeneration(promptTokens: refused, options: options)
        ) {
            XCTAssertTrue("\($0)".hasPrefix("keep must be"), "\($0)")
        }
        let wholePrompt = try Session(engine: engine, contextLength: Self.context)
        options.maxTokens = Self.context
        let kept = try wholePrompt.startGeneration(promptTokens: prompt, options: options)
        try kept.run { _ in true }
        XCTAssertEqual(Array(wholePrompt.cachedTokens.prefix(prompt.count)), prompt, "the prompt stays")
    }

    func testModelsWithSlidingWindowLayersRefuseContextShift() throws {
        let engine = try Engine(modelPath: try TestModels.gemma3(), threads: 2)
        var options = GenerationOptions()
        options.maxTokens = 4
        options.contextShift = ContextShift()
        let prompt = engine.tokenizer.encode("Hello", addSpecial: true, parseSpecial: true)
        XCTAssertThrowsError(try Session(engine: engine, contextLength: 64).startGeneration(promptTokens: prompt, options: options)) {
            guard case .unsupportedFeature(let what)? = $0 as? ModelError else { return XCTFail("\($0)") }
            XCTAssertTrue(what.contains("sliding-window"), what)
        }
    }
}
