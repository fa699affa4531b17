import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// A golden file of scripts/make-goldens.sh (greedy continuations and top-k logits from llama.cpp)
/// and the checks every real-model end-to-end test applies to it.
struct GoldenFile: Decodable {
    struct Generation: Decodable {
        let name: String
        let prompt: String
        let prompt_tokens: [Int32]
        let tokens: [Int32]
        let text: String
        let pieces_hex: [String]
        let top2_margin: [Float]
        let first_eog: Int?
    }
    struct Logits: Decodable {
        let text: String
        let tokens: [Int32]
        let top: [[[Double]]]
    }
    let n_predict: Int
    let generations: [Generation]
    let logits: Logits

    static func load(_ name: String) throws -> GoldenFile {
        try JSONDecoder().decode(GoldenFile.self, from: try TestModels.fixture("goldens/" + name))
    }
}

enum GoldenChecks {
    /// A greedy divergence from llama.cpp is accepted only at a step where llama.cpp's own top two
    /// logits were closer than this: there the order is decided by rounding, not by the model.
    static let nearTieMargin: Float = 0.05
    /// The goldens were made with 2 threads; decode over 512+ cached positions splits the cache
    /// per thread (in both engines), so the same count gives the same rounding.
    static let goldenThreads = 2

    /// Runs every golden prompt greedily; returns how many continuations were identical. Each
    /// divergence must be at a near-tie of llama.cpp's logits.
    @discardableResult
    static func greedyContinuations(
        _ engine: Engine, _ golden: GoldenFile, contextLength: Int, cacheTypes: KVCacheTypes = .f16,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> Int {
        let state = try engine.makeState(contextLength: contextLength, cacheTypes: cacheTypes)
        var logits: [Float] = []
        var exact = 0
        for g in golden.generations {
            XCTAssertEqual(
                engine.tokenizer.encode(g.prompt, addSpecial: true, parseSpecial: true), g.prompt_tokens,
                "\(g.name): prompt tokens", file: file, line: line)
            state.reset()
            try engine.evaluate(g.prompt_tokens, state: state, into: &logits)
            var produced: [Int32] = []
            for step in 0..<golden.n_predict {
                let token = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
                produced.append(token)
                if token != g.tokens[step] { break }
                if step + 1 < golden.n_predict { try engine.evaluate([token], state: state, into: &logits) }
            }
            if produced == g.tokens {
                exact += 1
                // The bytes of every piece; the text too, unless the golden's ends inside a
                // character (JSON cannot carry the cut bytes, and each side writes U+FFFD its way).
                let hex = produced.map { engine.tokenizer.piece($0, special: true).map { String(format: "%02x", $0) }.joined() }
                XCTAssertEqual(hex, g.pieces_hex, "\(g.name): piece bytes", file: file, line: line)
                if !g.text.contains("\u{FFFD}") {
                    XCTAssertEqual(engine.tokenizer.decode(produced), g.text, g.name, file: file, line: line)
                }
            } else {
                let at = produced.count - 1
                XCTAssertLessThan(
                    g.top2_margin[at], nearTieMargin,
                    "\(g.name): diverged at step \(at) (slm \(produced[at]) vs llama.cpp \(g.tokens[at])) where llama.cpp's top-2 margin was \(g.top2_margin[at])",
                    file: file, line: line)
                print("divergence: \(g.name) at step \(at), llama.cpp margin \(g.top2_margin[at])")
            }
        }
        print("greedy: \(exact)/\(golden.generations.count) continuations identical to llama.cpp for \(golden.n_predict) tokens")
        return exact
    }

    /// Logits at every position of the golden's logits text against llama.cpp's top-k:
    /// (top-1 agreement, max |Δ| over each position's top-k).
    static func logitsAtEveryPosition(
        _ engine: Engine, _ golden: GoldenFile, cacheTypes: KVCacheTypes = .f16
    ) throws -> (agreement: Double, maxDifference: Float) {
        let state = try engine.makeState(contextLength: 512, cacheTypes: cacheTypes)
        let rows = try engine.logitsAtEveryPosition(golden.logits.tokens, state: state)
        var agree = 0
        var maxDiff: Float = 0
        for (row, top) in zip(rows, golden.logits.top) {
            if row.withUnsafeBufferPointer({ Sampler.argmax($0) }) == Int32(top[0][0]) { agree += 1 }
            for pair in top { maxDiff = max(maxDiff, abs(row[Int(pair[0])] - Float(pair[1]))) }
        }
        print("logits: top-1 agreement \(agree)/\(rows.count), max |Δ| \(maxDiff) over each position's top-k")
        return (Double(agree) / Double(rows.count), maxDiff)
    }
}

/// A real model and its llama.cpp golden file: the checks each real-model test class runs, with
/// one engine per model file for the whole test run.
struct RealModelGolden {
    /// Top-1 agreement required over the 128-position logits text.
    static let minimumTopOneAgreement = 0.99
    /// Bound on |logit − llama.cpp's logit| over each position's top-32 tokens. llama.cpp rounds
    /// K/V to F16 and accumulates attention in F16 for small batches; small differences remain.
    static let maximumLogitDifference: Float = 0.25

    let modelPath: () throws -> String
    let goldenName: String
    /// The KV cache types the golden was made with (scripts/make-goldens.sh --kv).
    var cacheTypes = KVCacheTypes.f16

    nonisolated(unsafe) private static var engines: [String: Engine] = [:]

    func engine() throws -> Engine {
        let path = try modelPath()
        if let engine = Self.engines[path] { return engine }
        let engine = try Engine(modelPath: path, threads: GoldenChecks.goldenThreads)
        Self.engines[path] = engine
        return engine
    }

    func golden() throws -> GoldenFile { try GoldenFile.load(goldenName) }

    func checkGreedyContinuations(file: StaticString = #filePath, line: UInt = #line) throws {
        try GoldenChecks.greedyContinuations(
            try engine(), try golden(), contextLength: 1024, cacheTypes: cacheTypes, file: file, line: line)
    }

    func checkLogitsAtEveryPosition(file: StaticString = #filePath, line: UInt = #line) throws {
        let (agreement, maxDiff) = try GoldenChecks.logitsAtEveryPosition(try engine(), try golden(), cacheTypes: cacheTypes)
        XCTAssertGreaterThanOrEqual(agreement, Self.minimumTopOneAgreement, file: file, line: line)
        XCTAssertLessThanOrEqual(maxDiff, Self.maximumLogitDifference, file: file, line: line)
    }
}
