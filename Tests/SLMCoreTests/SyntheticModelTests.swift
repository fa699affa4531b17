import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Architectures without a small real model here (stablelm, phi2, phi3, gemma2, llama with a separate
/// output matrix), checked on tiny random-weight GGUFs (scripts/make-synthetic-models.py, written
/// into the cache by scripts/setup.sh --for-tests) against llama.cpp's logits at every position of
/// a 64-token input (Fixtures/goldens/synthetic-logits.json, scripts/make-synthetic-goldens.sh).
final class SyntheticModelTests: XCTestCase {
    /// Bound on |logit − llama.cpp's logit| over each position's top 8, F32 weights (the bar).
    static let f32Tolerance: Float = 1e-2
    /// The same bound for the Q8_0 files: both engines quantize activations to Q8_0 the same way,
    /// so the quantized files are held to the same bar.
    static let q8Tolerance: Float = 1e-2
    /// The goldens decode the 64 tokens in one batch in a 256-position context.
    static let contextLength = 256

    struct Golden: Decodable {
        struct Model: Decodable {
            let n_vocab: Int
            let tokens: [Int32]
            let top: [[[Double]]]
        }
        let models: [String: Model]
    }

    static func directory() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SLM_TEST_SYNTHETIC"], !dir.isEmpty { return dir }
        let dir = (env["SLM_CACHE"] ?? (NSHomeDirectory() + "/.cache/slm")) + "/synthetic"
        guard FileManager.default.fileExists(atPath: dir) else {
            throw XCTSkip("no synthetic models in \(dir): run scripts/synthetic-models.sh (scripts/test.sh does)")
        }
        return dir
    }

    func check(_ name: String, architecture: String) throws {
        let golden = try JSONDecoder().decode(Golden.self, from: try TestModels.fixture("goldens/synthetic-logits.json"))
        guard let want = golden.models[name] else { return XCTFail("no golden for \(name)") }
        let path = try Self.directory() + "/\(name).gguf"
        guard FileManager.default.fileExists(atPath: path) else { return XCTFail("missing \(path)") }
        let model = try ModelRegistry.load(try GGUFFile(path: path))
        XCTAssertEqual(model.architecture, architecture)
        XCTAssertEqual(model.vocabularySize, want.n_vocab)
        let state = try model.makeState(contextLength: Self.contextLength, maxBatch: want.tokens.count)
        state.attentionMode = AttentionMode.forBatch(of: want.tokens.count)
        let vocab = model.vocabularySize
        var logits = [Float](repeating: .nan, count: want.tokens.count * vocab)
        let pool = ThreadPool(threads: 2)
        try want.tokens.withUnsafeBufferPointer { tokens in
            try logits.withUnsafeMutableBufferPointer { out in
                try model.forward(tokens, state: state, pool: pool, allLogits: true, logits: out.baseAddress!)
            }
        }
        var maxDiff: Float = 0
        var topOneAgree = 0
        for (position, top) in want.top.enumerated() {
            let row = Array(logits[(position * vocab)..<((position + 1) * vocab)])
            let ours = row.withUnsafeBufferPointer { Sampler.argmax($0) }
            if ours == Int32(top[0][0]) { topOneAgree += 1 }
            XCTAssertEqual(ours, Int32(top[0][0]), "\(name): top-1 at position \(position)")
            for pair in top { maxDiff = max(maxDiff, abs(row[Int(pair[0])] - Float(pair[1]))) }
        }
        let tolerance = name.hasSuffix("-f32") ? Self.f32Tolerance : Self.q8Tolerance
        print("\(name): top-1 \(topOneAgree)/\(want.top.count), max |Δ| \(maxDiff)")
        XCTAssertLessThanOrEqual(maxDiff, tolerance, name)
    }

    func testLlamaWithSeparateOutputF32() throws { try check("llama-output-f32", architecture: "llama") }
    func testLlamaWithSeparateOutputQ8_0() throws { try check("llama-output-q8_0", architecture: "llama") }
    func testStableLMF32() throws { try check("stablelm-f32", architecture: "stablelm") }
    func testStableLMQ8_0() throws { try check("stablelm-q8_0", architecture: "stablelm") }
    func testPhi2F32() throws { try check("phi2-f32", architecture: "phi2") }
    func testPhi2Q8_0() throws { try check("phi2-q8_0", architecture: "phi2") }
    func testPhi3F32() throws { try check("phi3-f32", architecture: "phi3") }
    func testPhi3Q8_0() throws { try check("phi3-q8_0", architecture: "phi3") }
    func testGemma2F32() throws { try check("gemma2-f32", architecture: "gemma2") }
    func testGemma2Q8_0() throws { try check("gemma2-q8_0", architecture: "gemma2") }
}
