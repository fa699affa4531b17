import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// The prompt cache must not change a single bit: a generation that reuses a cached prefix gives
/// the KV cache (every prompt and generated position) and the tokens of an empty-cache run.
final class PromptCacheTests: XCTestCase {
    static var engines: [String: Engine] = [:]

    func engine(_ path: String) throws -> Engine {
        if let e = Self.engines[path] { return e }
        let e = try Engine(modelPath: path, threads: 2)
        Self.engines[path] = e
        return e
    }

    // MARK: The rule

    func testReusablePositionsFollowTheMicroBatches() {
        func r(_ common: Int, _ cached: Int, _ new: Int, sensitive: Bool = false) -> Int {
            PromptCache.reusablePositions(common: common, cachedLength: cached, newLength: new, sumOrderDependsOnBatch: sensitive)
        }
        // Same length: everything shared but the last token, in whole chunks of 64.
        XCTAssertEqual(r(700, 700, 700), 640)
        XCTAssertEqual(r(650, 700, 700), 640)
        XCTAssertEqual(r(700, 700, 700, sensitive: true), 640)
        // Whole micro-batches in both always qualify.
        XCTAssertEqual(r(600, 600, 620, sensitive: true), 512)
        // The partial micro-batch: 88 and 108 tokens, both F32 attention.
        XCTAssertEqual(r(600, 600, 620), 576)
        // 28 tokens (F16-accumulate) against 108 (F32): only the whole micro-batch.
        XCTAssertEqual(r(540, 540, 620), 512)
        // No whole micro-batch: 130 and 200 tokens, both F32.
        XCTAssertEqual(r(130, 130, 200), 128)
        XCTAssertEqual(r(130, 130, 200, sensitive: true), 0)
        // 40 (F16) against 200 (F32).
        XCTAssertEqual(r(40, 40, 200), 0)
        // A new prompt shorter than a chunk, or than the shared part.
        XCTAssertEqual(r(600, 600, 60), 0)
        XCTAssertEqual(r(600, 600, 129), 128)
        // The last prompt token always runs.
        XCTAssertEqual(r(128, 128, 128), 64)
        XCTAssertEqual(r(0, 600, 620), 0)
    }

    // MARK: Bit for bit

    /// Greedy and seeded generations with several (cached prompt, new prompt) lengths around the
    /// 64 and 512 boundaries, on SmolLM2 (Q4_1: the sum order never depends on the batch).
    func testCachedPrefixGivesTheBitsOfAnEmptyCacheSmolLM2() throws {
        let engine = try engine(try TestModels.smolLM2())
        XCTAssertFalse(engine.sumOrderDependsOnBatch)
        // (shared tokens, cached prompt length, new prompt length, positions expected reused)
        let cases = [
            (600, 600, 620, 576), (540, 540, 620, 512), (650, 700, 700, 640), (130, 130, 200, 128), (200, 230, 70, 64),
            (1030, 1030, 1100, 1024), (100, 600, 520, 64), (40, 40, 200, 0),
        ]
        try checkBitForBit(engine, cases)
    }

    /// The same on Qwen2.5-Coder-0.5B Q4_K_M (Q5_0 with Q4_K / Q6_K / Q8_0): where the sum order
    /// depends on the batch, only whole micro-batches and same-length prompts are reused.
    func testCachedPrefixGivesTheBitsOfAnEmptyCacheQwen25Coder() throws {
        let engine = try engine(try TestModels.qwen25Coder())
        let sensitive = engine.sumOrderDependsOnBatch
        let cases = [
            (600, 600, 620, sensitive ? 512 : 576), (610, 620, 620, 576), (540, 540, 620, 512), (130, 130, 200, sensitive ? 0 : 128),
        ]
        try checkBitForBit(engine, cases)
    }

    /// The rows a reused prefix would need are really different under the old placement (the
    /// rest as a request of its own), so the comparison above can tell a wrong placement.
    func testPlacingTheRestAsItsOwnRequestChangesTheBits() throws {
        let engine = try engine(try TestModels.smolLM2())
        let tokens = longTokens(engine, count: 700)
        let prompt = Array(tokens[..<620])
        let fresh = try runToEnd(try Session(engine: engine, contextLength: 1024), prompt, options: greedy(1))
        let session = try Session(engine: engine, contextLength: 1024)
        let cache = PromptCache(maxBytes: 1 << 30, maxBytesPerOwner: 1 << 30)
        let maker = try Session(engine: engine, contextLength: 1024)
        _ = try runToEnd(maker, Array(tokens[..<600]), options: greedy(1))
        cache.store(from: maker, owner: 1, promptTokens: Array(tokens[..<600]))
        XCTAssertEqual(cache.restore(into: session, owner: 1, promptTokens: prompt), 576)
        let old = try runToEnd(session, prompt, options: greedy(1), placement: .afterReusedPrefix)
        XCTAssertEqual(old.reused, 576)
        XCTAssertNotEqual(old.rows, fresh.rows, "44 tokens as a request of their own use F16-accumulate attention")
    }

    func testEntriesAreNeverReusedForAnotherOwner() throws {
        let engine = try engine(try TestModels.smolLM2())
        let tokens = longTokens(engine, count: 300)
        let cache = PromptCache(maxBytes: 1 << 30, maxBytesPerOwner: 1 << 30)
        let maker = try Session(engine: engine, contextLength: 512)
        _ = try runToEnd(maker, tokens, options: greedy(1))
        cache.store(from: maker, owner: 1000, promptTokens: tokens)
        let other = try Session(engine: engine, contextLength: 512)
        XCTAssertEqual(cache.restore(into: other, owner: 1001, promptTokens: tokens), 0)
        XCTAssertEqual(other.cachedTokens.count, 0)
        XCTAssertEqual(cache.restore(into: other, owner: 1000, promptTokens: tokens), 256)
        XCTAssertEqual(cache.statistics.hits, 1)
        XCTAssertEqual(cache.statistics.misses, 1)
        XCTAssertEqual(cache.statistics.reusedTokens, 256)
    }

    func testEvictionIsLeastRecentlyUsedWithinTheBounds() throws {
        let engine = try engine(try TestModels.smolLM2())
        let maker = try Session(engine: engine, contextLength: 512)
        let rowBytes = 64 * maker.state.shape.kvBytesPerPosition(maker.state.cacheTypes)
        // Room for three 64-position entries overall, two per owner.
        let cache = PromptCache(maxBytes: 3 * rowBytes, maxBytesPerOwner: 2 * rowBytes)
        var prompts: [[Int32]] = []
        for i in 0..<4 {
            let prompt = engine.tokenizer.encode(
                String(repeating: "Entry \(i) is about something else. ", count: 12), addSpecial: true, parseSpecial: false)
            prompts.append(Array(prompt[..<70]))
        }
        func put(_ i: Int, owner: UInt32) throws {
            _ = try runToEnd(maker, prompts[i], options: greedy(1))
            cache.store(from: maker, owner: owner, promptTokens: prompts[i])
        }
        try put(0, owner: 1)
        try put(1, owner: 1)
        XCTAssertEqual(cache.statistics.entries, 2)
        try put(2, owner: 1)  // the owner's bound: entry 0 goes
        XCTAssertEqual(cache.statistics.entries, 2)
        let probe = try Session(engine: engine, contextLength: 512)
        XCTAssertEqual(cache.restore(into: probe, owner: 1, promptTokens: prompts[0]), 0)
        XCTAssertEqual(cache.restore(into: probe, owner: 1, promptTokens: prompts[1]), 64)  // 1 is now the most recent
        try put(3, owner: 2)
        XCTAssertEqual(cache.statistics.entries, 3)
        try put(0, owner: 2)  // the global bound: the least recently used of all (2) goes
        XCTAssertEqual(cache.restore(into: probe, owner: 1, promptTokens: prompts[2]), 0)
        XCTAssertEqual(cache.restore(into: probe, owner: 1, promptTokens: prompts[1]), 64)
        XCTAssertEqual(cache.statistics.bytes, 3 * rowBytes)
        // An entry larger than the bound is not stored.
        let small = PromptCache(maxBytes: rowBytes - 1, maxBytesPerOwner: 1 << 30)
        small.store(from: maker, owner: 1, promptTokens: prompts[0])
        XCTAssertEqual(small.statistics.entries, 0)
        XCTAssertEqual(cache.shrink(to: rowBytes), 2 * rowBytes)
        XCTAssertEqual(cache.statistics.entries, 1)
    }

    // MARK: Helpers

    func greedy(_ maxTokens: Int) -> GenerationOptions {
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = maxTokens
        return options
    }

    func seeded(_ maxTokens: Int) -> GenerationOptions {
        var options = GenerationOptions()
        options.sampling.temperature = 0.9
        options.sampling.seed = 1234
        options.maxTokens = maxTokens
        return options
    }

    /// `count` tokens of varied text (no end-of-generation token inside).
    func longTokens(_ engine: Engine, count: Int, salt: String = "") -> [Int32] {
        var text = salt
        var i = 0
        while engine.tokenizer.encode(text, addSpecial: true, parseSpecial: false).count < count + 1 {
            text += "Paragraph \(i)\(salt): the river town kept \(i * 7 % 13) boats, \(i * 3) lanterns and a clock tower. "
            i += 1
        }
        return Array(engine.tokenizer.encode(text, addSpecial: true, parseSpecial: false)[..<count])
    }

    struct Outcome {
        var rows: [UInt8]
        var tokens: [Int32]
        var reused: Int
    }

    /// Runs a generation to its end; the rows of every position it filled, and its tokens.
    func runToEnd(
        _ session: Session, _ prompt: [Int32], options: GenerationOptions, placement: PrefillPlacement = .wholePrompt
    ) throws -> Outcome {
        let generation = try session.startGeneration(promptTokens: prompt, options: options, placement: placement)
        try generation.run { _ in true }
        let n = session.state.position
        let rows = session.state.copyRows(count: n)
        return Outcome(rows: rows, tokens: generation.generatedTokens, reused: generation.reusedPromptTokens)
    }

    func checkBitForBit(_ engine: Engine, _ cases: [(Int, Int, Int, Int)]) throws {
        let base = longTokens(engine, count: 1200)
        let other = longTokens(engine, count: 1200, salt: " (second telling)")
        for (common, cachedLength, newLength, expected) in cases {
            // The cached prompt: `common` tokens of `base`, then `other`'s; the new one: `base`.
            let cached = Array(base[..<min(common, cachedLength)]) + Array(other[min(common, cachedLength)..<cachedLength])
            let prompt = Array(base[..<newLength])
            let maker = try Session(engine: engine, contextLength: 2048)
            _ = try runToEnd(maker, cached, options: greedy(1))
            let cache = PromptCache(maxBytes: 1 << 30, maxBytesPerOwner: 1 << 30)
            cache.store(from: maker, owner: 7, promptTokens: cached)
            for (label, options) in [("greedy", greedy(12)), ("seeded", seeded(12))] {
                let what = "\(label), cached \(cachedLength) (\(common) shared), new \(newLength)"
                let fresh = try runToEnd(try Session(engine: engine, contextLength: 2048), prompt, options: options)
                let session = try Session(engine: engine, contextLength: 2048)
                let restored = cache.restore(into: session, owner: 7, promptTokens: prompt)
                XCTAssertEqual(restored, expected, what)
                let hit = try runToEnd(session, prompt, options: options)
                XCTAssertEqual(hit.reused, expected, what)
                XCTAssertEqual(hit.tokens, fresh.tokens, what)
                XCTAssertFalse(fresh.tokens.isEmpty, what)
                XCTAssertTrue(hit.rows == fresh.rows, "\(what): the KV cache differs from an empty-cache run's")
            }
        }
    }
}
