import CSLMKernels
import CSLMKernelsTesting
import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Quantized KV caches (Q8_0 / Q4_0 for K and V): the typed attention kernel against its generic
/// twin and a Double reference, the Q4_0 quantizer against gguf-py's reference, snapshots in the
/// cache's types, and the three test models against llama.cpp run with the same -ctk / -ctv
/// (scripts/make-goldens.sh MODEL --kv TYPE).
final class KVCacheTypeTests: XCTestCase {
    override func tearDown() {
        slm_set_force_generic(0)
        super.tearDown()
    }

    /// One row of `width` floats stored in `type`, as the cache stores it.
    static func row(_ floats: [Float], _ type: KVCacheType) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: type.rowBytes(width: floats.count))
        floats.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { type.store(src.baseAddress!, into: $0.baseAddress!, width: floats.count) }
        }
        return bytes
    }

    static func floats(_ bytes: [UInt8], _ type: KVCacheType, width: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: width)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { type.load(src.baseAddress!, into: $0.baseAddress!, width: width) }
        }
        return out
    }

    /// Every (K, V) type pair, head sizes 64 and 256, with and without a window start and a
    /// soft-cap: the SIMD build equals the generic twin bit for bit (both dot quantized keys
    /// with this CPU's slm_vec_dot kernel, which has its own twin tests), F16/F16 equals the F16
    /// mode the F16 cache runs (one capped partial, merged), and the output, all-scalar too, is
    /// softmax attention over the stored (rounded / quantized) keys and values within the
    /// accumulator's rounding.
    func testTypedAttentionMatchesGenericTwinAndReference() {
        for forceGeneric: Int32 in [0, 1] {
            slm_set_force_generic(forceGeneric)
            checkTypedAttention()
        }
    }

    func checkTypedAttention() {
        var random = SeededGenerator(seed: 0xCA_C4E0)
        for keyType in KVCacheType.allCases {
            for valueType in KVCacheType.allCases {
                for headDim in [64, 256] {
                    for (positions, begin, cap) in [(1, 0, Float(0)), (70, 0, 0), (300, 100, 0), (130, 7, 2)] {
                        let keys = (0..<positions).map { _ in (0..<headDim).map { _ in Float(random.nextUnit() * 4 - 2) } }
                        let values = (0..<positions).map { _ in (0..<headDim).map { _ in Float(random.nextUnit() * 4 - 2) } }
                        let query = (0..<headDim).map { _ in Float(random.nextUnit() * 2 - 1) }
                        let keyRows = keys.flatMap { Self.row($0, keyType) }
                        let valueRows = values.flatMap { Self.row($0, valueType) }
                        let keyRowBytes = keyType.rowBytes(width: headDim)
                        let valueRowBytes = valueType.rowBytes(width: headDim)
                        let scale = 1 / Float(headDim).squareRoot() / (cap == 0 ? 1 : cap)
                        let scratch = UnsafeMutableRawPointer.allocate(
                            byteCount: slm_attention_scratch_bytes(Int64(headDim)), alignment: 64)
                        defer { scratch.deallocate() }
                        var simd = [Float](repeating: .nan, count: headDim)
                        var generic = simd
                        slm_attention_head_typed(
                            query, keyType.kernelType, keyRows, keyRowBytes, valueType.kernelType, valueRows, valueRowBytes,
                            Int64(begin), Int64(positions), Int64(headDim), scale, cap, &simd, scratch)
                        slm_attention_head_typed_generic(
                            query, keyType.kernelType, keyRows, keyRowBytes, valueType.kernelType, valueRows, valueRowBytes,
                            Int64(begin), Int64(positions), Int64(headDim), scale, cap, &generic, scratch)
                        let what = "K \(keyType) V \(valueType) head_dim=\(headDim) n=\(positions) begin=\(begin) cap=\(cap)"
                        XCTAssertEqual(simd.map(\.bitPattern), generic.map(\.bitPattern), what)

                        if keyType == .f16 && valueType == .f16 {
                            var partial = [Float](repeating: .nan, count: 2 + headDim)
                            var merged = [Float](repeating: .nan, count: headDim)
                            keyRows.withUnsafeBytes { k in
                                valueRows.withUnsafeBytes { v in
                                    slm_attention_partial_capped(
                                        query, k.bindMemory(to: UInt16.self).baseAddress, Int64(headDim),
                                        v.bindMemory(to: UInt16.self).baseAddress, Int64(headDim), Int64(begin), Int64(positions),
                                        Int64(headDim), scale, cap, &partial, scratch)
                                }
                            }
                            slm_attention_merge(partial, 1, Int64(headDim), &merged)
                            XCTAssertEqual(simd.map(\.bitPattern), merged.map(\.bitPattern), what + ": the F16 cache's own mode")
                        }

                        // The query as the kernel dots it: rounded to F16, or through Q8_0.
                        let q =
                            keyType == .f16
                            ? Self.floats(Self.row(query, .f16), .f16, width: headDim)
                            : Self.floats(Self.row(query, .q8_0), .q8_0, width: headDim)
                        let k = keys.map { Self.floats(Self.row($0, keyType), keyType, width: headDim) }
                        let v = values.map { Self.floats(Self.row($0, valueType), valueType, width: headDim) }
                        let scores = (begin..<positions).map { p -> Double in
                            let s = Double(scale) * (0..<headDim).reduce(0.0) { $0 + Double(q[$1]) * Double(k[p][$1]) }
                            return cap == 0 ? s : Double(cap) * tanh(s)
                        }
                        let top = scores.max()!
                        let weights = scores.map { exp($0 - top) }
                        let total = weights.reduce(0, +)
                        // An F16 accumulator rounds every step (2^-11 relative); an F32 one barely.
                        let tolerance = valueType == .f16 ? 5e-3 : 1e-4
                        for d in 0..<headDim {
                            let exact = zip(begin..<positions, weights).reduce(0.0) { $0 + $1.1 * Double(v[$1.0][d]) } / total
                            XCTAssertEqual(Double(simd[d]), exact, accuracy: tolerance, "\(what) d=\(d)")
                        }
                    }
                }
            }
        }
    }

    /// The Q4_0 key dot (eight float lanes, as llama.cpp's flash attention sums Q4_0 keys on
    /// x86) equals its generic twin bit for bit, and both are the dot of the dequantized rows.
    func testQ4_0KeyDotEqualsItsTwinBitForBit() {
        var random = SeededGenerator(seed: 0x4B_D07)
        for blocks in [1, 2, 8, 64] {
            let n = blocks * 32
            for _ in 0..<50 {
                let keys = Self.row((0..<n).map { _ in Float(random.nextUnit() * 4 - 2) }, .q4_0)
                let query = Self.row((0..<n).map { _ in Float(random.nextUnit() * 2 - 1) }, .q8_0)
                let simd = slm_kv_key_dot_kernel(Int32(SLM_TYPE_Q4_0.rawValue))!(Int64(n), keys, query)
                let generic = slm_vec_dot_q4_0_q8_0_lanes_generic(Int64(n), keys, query)
                XCTAssertEqual(simd.bitPattern, generic.bitPattern, "\(blocks) blocks")
                let k = Self.floats(keys, .q4_0, width: n)
                let q = Self.floats(query, .q8_0, width: n)
                let exact = (0..<n).reduce(0.0) { $0 + Double(k[$1]) * Double(q[$1]) }
                let bound = (0..<n).reduce(0.0) { $0 + abs(Double(k[$1]) * Double(q[$1])) }
                XCTAssertEqual(Double(simd), exact, accuracy: 1e-5 * bound + 1e-6, "\(blocks) blocks")
            }
        }
    }

    /// Q4_0 quantization of cache rows against gguf-py's numpy reference quantizer (the one
    /// llama.cpp's CPU backend also runs): scripts/make-kv-quant-golden.py.
    func testQ4_0QuantizerMatchesReference() throws {
        struct Golden: Decodable {
            let cases: [Case]
            struct Case: Decodable {
                let values: [Float]
                let q4_0_hex: String
            }
        }
        let golden = try JSONDecoder().decode(Golden.self, from: try TestModels.fixture("kv-quant-q4_0.json"))
        XCTAssertGreaterThan(golden.cases.count, 0)
        for (i, c) in golden.cases.enumerated() {
            let got = Self.row(c.values, .q4_0).map { String(format: "%02x", $0) }.joined()
            XCTAssertEqual(got, c.q4_0_hex, "case \(i)")
        }
    }

    /// Sizes: Q8_0 is 34/64 of F16 per value, Q4_0 18/64; a head size that is not whole blocks
    /// is refused with a message naming it.
    func testCacheSizesAndUnsupportedHeadSizes() throws {
        XCTAssertEqual(KVCacheType.f16.rowBytes(width: 192), 384)
        XCTAssertEqual(KVCacheType.q8_0.rowBytes(width: 192), 204)
        XCTAssertEqual(KVCacheType.q4_0.rowBytes(width: 192), 108)
        // SmolLM2: 30 layers, K and V 192 wide.
        let smol = KVCacheTypes(key: .q8_0, value: .q8_0).bytesPerPosition(layers: 30, keyWidth: 192, valueWidth: 192)
        XCTAssertEqual(smol, 30 * 2 * 204)
        let shape = StateShape(
            layers: 1, keyWidth: 80, valueWidth: 80, scratchWidths: [], maxActivationColumns: 80, heads: 1, headDim: 80)
        XCTAssertThrowsError(try InferenceState(shape: shape, contextLength: 8, maxBatch: 1, cacheTypes: .init(key: .q8_0))) {
            XCTAssertTrue("\($0)".contains("multiple of 32"), "\($0)")
        }
        XCTAssertNoThrow(try InferenceState(shape: shape, contextLength: 8, maxBatch: 1))
    }

    // MARK: - Real models

    /// A quantized cache's snapshot keeps its type (smaller than F16's), restores to the same
    /// next-token logits, and converts when restored into a session of other types.
    func testSnapshotsKeepTheCacheTypeAndConvert() throws {
        let engine = try RealModelGolden(modelPath: TestModels.smolLM2, goldenName: "").engine()
        let prompt = engine.tokenizer.encode("The quick brown fox jumps over the lazy dog, and then", addSpecial: true, parseSpecial: false)
        func nextLogits(_ session: Session) throws -> [Float] {
            var logits: [Float] = []
            try engine.evaluate([prompt.last!], state: session.state, into: &logits)
            return logits
        }
        let q8 = try Session(engine: engine, contextLength: 256, cacheTypes: KVCacheTypes(key: .q8_0, value: .q8_0))
        var logits: [Float] = []
        try engine.evaluate(Array(prompt.dropLast()), state: q8.state, into: &logits)
        q8.restoreCachedTokens(Array(prompt.dropLast()))
        let snapshot = q8.snapshot()
        XCTAssertEqual(snapshot.cacheTypes, KVCacheTypes(key: .q8_0, value: .q8_0))
        let blob = snapshot.serialized()
        let f16 = try Session(engine: engine, contextLength: 256)
        try engine.evaluate(Array(prompt.dropLast()), state: f16.state, into: &logits)
        f16.restoreCachedTokens(Array(prompt.dropLast()))
        XCTAssertLessThan(Double(blob.count), 0.55 * Double(f16.snapshot().serialized().count), "a Q8_0 snapshot is about half an F16 one")

        let expected = try nextLogits(q8)
        let restored = try Session(engine: engine, contextLength: 256, cacheTypes: KVCacheTypes(key: .q8_0, value: .q8_0))
        try restored.restore(try SessionSnapshot(serialized: blob))
        XCTAssertEqual(restored.cachedTokens, Array(prompt.dropLast()))
        XCTAssertEqual(try nextLogits(restored).map(\.bitPattern), expected.map(\.bitPattern))

        // Into an F16 session: rows widened from Q8_0; the same argmax, close logits.
        let widened = try Session(engine: engine, contextLength: 256)
        try widened.restore(try SessionSnapshot(serialized: blob))
        let w = try nextLogits(widened)
        XCTAssertEqual(w.withUnsafeBufferPointer { Sampler.argmax($0) }, expected.withUnsafeBufferPointer { Sampler.argmax($0) })

        // A version-2 (F16, before cache types) blob restores into a Q8_0 session, quantized.
        let v1 = f16.snapshot()
        var version2 = Array("SLMKV002".utf8) + Array(v1.modelIdentity.utf8)
        for value in [v1.layers, v1.keyWidth, v1.valueWidth, v1.tokens.count] {
            version2 += (0..<4).map { UInt8(truncatingIfNeeded: UInt32(value) >> ($0 * 8)) }
        }
        for t in v1.tokens { version2 += (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: t) >> ($0 * 8)) } }
        version2 += v1.cache
        let sum = version2.withUnsafeBytes { snapshotChecksum($0) }
        version2 += (0..<8).map { UInt8(truncatingIfNeeded: sum >> ($0 * 8)) }
        let old = try SessionSnapshot(serialized: version2)
        XCTAssertEqual(old.cacheTypes, .f16)
        XCTAssertEqual(old.cache, v1.cache)
        let converted = try Session(engine: engine, contextLength: 256, cacheTypes: KVCacheTypes(key: .q8_0, value: .q8_0))
        try converted.restore(old)
        // Quantizing the F16 rows gives what a Q8_0 run would have stored only up to the F16
        // rounding in between: the same argmax.
        XCTAssertEqual(
            try nextLogits(converted).withUnsafeBufferPointer { Sampler.argmax($0) },
            expected.withUnsafeBufferPointer { Sampler.argmax($0) })
    }

    static let goldens: [(name: String, model: () throws -> String, golden: String)] = [
        ("SmolLM2", TestModels.smolLM2, "smollm2-135m-q4_1"),
        ("Gemma-3", TestModels.gemma3, "gemma3-270m-q4_k_m"),
        ("Qwen2.5", TestModels.qwen25Coder, "qwen25coder-0.5b-q4_k_m"),
    ]

    /// Each model with a Q8_0 and a Q4_0 cache against llama.cpp with the same cache types: top-1
    /// agreement ≥ 99 % over the 128-token logits text and greedy continuations equal except
    /// after a near-tie of llama.cpp's logits (< 0.05).
    func checkAgainstLlamaCpp(_ type: KVCacheType) throws {
        var ran = 0
        for entry in Self.goldens {
            let golden = RealModelGolden(
                modelPath: entry.model, goldenName: "\(entry.golden).kv-\(type.rawValue).json",
                cacheTypes: KVCacheTypes(key: type, value: type))
            do { _ = try entry.model() } catch { continue }  // that model is not fetched here
            print("\(entry.name), KV cache \(type.rawValue):")
            try golden.checkLogitsAtEveryPosition()
            try golden.checkGreedyContinuations()
            ran += 1
        }
        if ran == 0 { throw XCTSkip("no test model found (scripts/fetch-model.sh)") }
    }

    func testQ8_0CacheMatchesLlamaCpp() throws { try checkAgainstLlamaCpp(.q8_0) }
    func testQ4_0CacheMatchesLlamaCpp() throws { try checkAgainstLlamaCpp(.q4_0) }
}
