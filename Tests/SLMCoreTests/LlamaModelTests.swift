import CSLMKernels
import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// A tiny random llama written as a GGUF by the test, run through the engine and through a plain
/// double-precision reference implementation of the same equations.
final class LlamaModelTests: XCTestCase {
    struct Config {
        var dim = 64, heads = 4, kvHeads = 2, ffn = 96, layers = 2, vocab = 80
        var ropeBase: Float = 10000, eps: Float = 1e-5
        var tiedOutput = true
        var weightType: UInt32 = 0  // F32, or 8 for Q8_0
        var headDim: Int { dim / heads }
    }

    /// Weights as the reference sees them (after any quantization round trip).
    struct Weights {
        var tensors: [String: [Float]] = [:]
    }

    var random = SeededGenerator(seed: 1234)

    func randomValues(_ n: Int, scale: Float) -> [Float] {
        (0..<n).map { _ in Float(random.nextUnit() * 2 - 1) * scale }
    }

    func makeModel(_ c: Config, in dir: TemporaryDirectory) -> (String, Weights) {
        var b = GGUFBuilder()
        b.set("general.architecture", .string("llama"))
        b.set("llama.block_count", .uint32(UInt32(c.layers)))
        b.set("llama.embedding_length", .uint32(UInt32(c.dim)))
        b.set("llama.feed_forward_length", .uint32(UInt32(c.ffn)))
        b.set("llama.attention.head_count", .uint32(UInt32(c.heads)))
        b.set("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeads)))
        b.set("llama.context_length", .uint32(256))
        b.set("llama.rope.freq_base", .float32(c.ropeBase))
        b.set("llama.attention.layer_norm_rms_epsilon", .float32(c.eps))
        var weights = Weights()

        func matrix(_ name: String, rows: Int, cols: Int) {
            let values = randomValues(rows * cols, scale: 1 / Float(cols).squareRoot() * 1.5)
            if c.weightType == 0 {
                b.addF32(name, dimensions: [cols, rows], values: values)
                weights.tensors[name] = values
            } else {
                let type = Int32(c.weightType)
                let rowBytes = Int(slm_row_bytes(type, Int64(cols)))
                var data = [UInt8](repeating: 0, count: rowBytes * rows)
                var roundTrip = [Float](repeating: 0, count: rows * cols)
                data.withUnsafeMutableBytes { raw in
                    for r in 0..<rows {
                        values.withUnsafeBufferPointer {
                            slm_quantize_row(type, $0.baseAddress! + r * cols, raw.baseAddress! + r * rowBytes, Int64(cols))
                        }
                        roundTrip.withUnsafeMutableBufferPointer {
                            slm_dequantize_row(type, raw.baseAddress! + r * rowBytes, $0.baseAddress! + r * cols, Int64(cols))
                        }
                    }
                }
                b.tensors.append(.init(name: name, dimensions: [UInt64(cols), UInt64(rows)], type: c.weightType, data: data))
                weights.tensors[name] = roundTrip
            }
        }
        func vector(_ name: String, _ n: Int) {
            let values = (0..<n).map { _ in Float(0.5 + random.nextUnit()) }
            b.addF32(name, dimensions: [n], values: values)
            weights.tensors[name] = values
        }

        matrix("token_embd.weight", rows: c.vocab, cols: c.dim)
        vector("output_norm.weight", c.dim)
        if !c.tiedOutput { matrix("output.weight", rows: c.vocab, cols: c.dim) }
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            vector(p + "attn_norm.weight", c.dim)
            matrix(p + "attn_q.weight", rows: c.heads * c.headDim, cols: c.dim)
            matrix(p + "attn_k.weight", rows: c.kvHeads * c.headDim, cols: c.dim)
            matrix(p + "attn_v.weight", rows: c.kvHeads * c.headDim, cols: c.dim)
            matrix(p + "attn_output.weight", rows: c.dim, cols: c.heads * c.headDim)
            vector(p + "ffn_norm.weight", c.dim)
            matrix(p + "ffn_gate.weight", rows: c.ffn, cols: c.dim)
            matrix(p + "ffn_up.weight", rows: c.ffn, cols: c.dim)
            matrix(p + "ffn_down.weight", rows: c.dim, cols: c.ffn)
        }
        return (dir.write(b.bytes(), name: "tiny-llama.gguf"), weights)
    }

    /// The llama equations, written for clarity in Double.
    func referenceLogits(_ c: Config, _ w: Weights, tokens: [Int]) -> [[Double]] {
        func mat(_ name: String, _ x: [Double], rows: Int) -> [Double] {
            let m = w.tensors[name]!
            let cols = x.count
            return (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + Double(m[r * cols + $1]) * x[$1] } }
        }
        func norm(_ x: [Double], _ name: String) -> [Double] {
            let g = w.tensors[name]!
            let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
            let s = 1 / (ms + Double(c.eps)).squareRoot()
            return x.indices.map { x[$0] * s * Double(g[$0]) }
        }
        func rope(_ v: inout [Double], heads: Int, pos: Int) {
            for h in 0..<heads {
                for i in 0..<(c.headDim / 2) {
                    let theta = Double(pos) * pow(Double(c.ropeBase), -2 * Double(i) / Double(c.headDim))
                    let a = v[h * c.headDim + 2 * i]
                    let b = v[h * c.headDim + 2 * i + 1]
                    v[h * c.headDim + 2 * i] = a * cos(theta) - b * sin(theta)
                    v[h * c.headDim + 2 * i + 1] = a * sin(theta) + b * cos(theta)
                }
            }
        }
        var keys = [[[Double]]](repeating: [], count: c.layers)
        var values = [[[Double]]](repeating: [], count: c.layers)
        var out: [[Double]] = []
        let embedding = w.tensors["token_embd.weight"]!
        for (pos, token) in tokens.enumerated() {
            var x = (0..<c.dim).map { Double(embedding[token * c.dim + $0]) }
            for l in 0..<c.layers {
                let p = "blk.\(l)."
                let xn = norm(x, p + "attn_norm.weight")
                var q = mat(p + "attn_q.weight", xn, rows: c.heads * c.headDim)
                var k = mat(p + "attn_k.weight", xn, rows: c.kvHeads * c.headDim)
                let v = mat(p + "attn_v.weight", xn, rows: c.kvHeads * c.headDim)
                rope(&q, heads: c.heads, pos: pos)
                rope(&k, heads: c.kvHeads, pos: pos)
                keys[l].append(k)
                values[l].append(v)
                var att = [Double](repeating: 0, count: c.heads * c.headDim)
                for h in 0..<c.heads {
                    let kv = h / (c.heads / c.kvHeads)
                    var scores = (0...pos).map { t in
                        (0..<c.headDim).reduce(0.0) { $0 + q[h * c.headDim + $1] * keys[l][t][kv * c.headDim + $1] }
                            / Double(c.headDim).squareRoot()
                    }
                    let m = scores.max()!
                    scores = scores.map { exp($0 - m) }
                    let sum = scores.reduce(0, +)
                    for t in 0...pos {
                        for d in 0..<c.headDim { att[h * c.headDim + d] += scores[t] / sum * values[l][t][kv * c.headDim + d] }
                    }
                }
                let o = mat(p + "attn_output.weight", att, rows: c.dim)
                x = x.indices.map { x[$0] + o[$0] }
                let xf = norm(x, p + "ffn_norm.weight")
                let g = mat(p + "ffn_gate.weight", xf, rows: c.ffn)
                let u = mat(p + "ffn_up.weight", xf, rows: c.ffn)
                let hdn = g.indices.map { g[$0] / (1 + exp(-g[$0])) * u[$0] }
                let d = mat(p + "ffn_down.weight", hdn, rows: c.dim)
                x = x.indices.map { x[$0] + d[$0] }
            }
            out.append(mat(c.tiedOutput ? "token_embd.weight" : "output.weight", norm(x, "output_norm.weight"), rows: c.vocab))
        }
        return out
    }

    func check(_ c: Config, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = TemporaryDirectory()
        let (path, weights) = makeModel(c, in: dir)
        let gguf = try GGUFFile(path: path)
        let model = try ModelRegistry.load(gguf)
        XCTAssertEqual(model.vocabularySize, c.vocab)
        let tokens = (0..<20).map { ($0 * 7 + 3) % c.vocab }
        let expected = referenceLogits(c, weights, tokens: tokens)
        let state = try model.makeState(contextLength: 64, maxBatch: 8)
        let pool = ThreadPool(threads: 3)
        // Mixed batch sizes exercise both the matvec and the batched matmul paths.
        var logits = [Float](repeating: 0, count: 8 * c.vocab)
        var position = 0
        var worst = 0.0
        for size in [1, 5, 1, 8, 3, 2] {
            let chunk = tokens[position..<(position + size)].map(Int32.init)
            try chunk.withUnsafeBufferPointer { t in
                try logits.withUnsafeMutableBufferPointer { out in
                    try model.forward(t, state: state, pool: pool, allLogits: true, logits: out.baseAddress!)
                }
            }
            for i in 0..<size {
                for v in 0..<c.vocab {
                    worst = max(worst, abs(Double(logits[i * c.vocab + v]) - expected[position + i][v]))
                }
            }
            position += size
        }
        XCTAssertEqual(state.position, tokens.count)
        // The KV cache holds F16 (as llama.cpp's does), so even F32 weights see ~1e-3 relative
        // rounding in attention; Q8 activations round each input to 8 bits on top of that.
        XCTAssertLessThan(worst, tolerance, "max |logit − reference| = \(worst)", file: file, line: line)
    }

    func testF32TiedOutputMatchesReference() throws {
        try check(Config(), tolerance: 1e-2)
    }

    func testF32SeparateOutputMatchesReference() throws {
        var c = Config()
        c.tiedOutput = false
        c.heads = 8
        c.kvHeads = 8  // plain multi-head attention
        try check(c, tolerance: 1e-2)
    }

    func testQ8_0WeightsMatchReference() throws {
        var c = Config()
        c.weightType = 8
        try check(c, tolerance: 0.1)
    }

    func testBadHyperparametersAreNamedErrors() throws {
        let dir = TemporaryDirectory()
        var c = Config()
        c.kvHeads = 3  // does not divide 4 heads
        let (path, _) = makeModel(c, in: dir)
        XCTAssertThrowsError(try ModelRegistry.load(try GGUFFile(path: path))) { error in
            XCTAssertTrue("\(error)".contains("head_count_kv"), "\(error)")
        }
    }

    func testForwardRejectsOutOfRangeTokensAndFullContext() throws {
        let dir = TemporaryDirectory()
        let (path, _) = makeModel(Config(), in: dir)
        let model = try ModelRegistry.load(try GGUFFile(path: path))
        let state = try model.makeState(contextLength: 8, maxBatch: 8)
        let pool = ThreadPool(threads: 1)
        var logits = [Float](repeating: 0, count: 8 * 80)
        let bad: [Int32] = [1, 80]
        XCTAssertThrowsError(
            try bad.withUnsafeBufferPointer { try model.forward($0, state: state, pool: pool, allLogits: false, logits: &logits) })
        let many = [Int32](repeating: 1, count: 8)
        try many.withUnsafeBufferPointer { try model.forward($0, state: state, pool: pool, allLogits: false, logits: &logits) }
        XCTAssertThrowsError(
            try [Int32(1)].withUnsafeBufferPointer { try model.forward($0, state: state, pool: pool, allLogits: false, logits: &logits) }
        ) { error in
            guard case ModelError.contextFull = error else { return XCTFail("\(error)") }
        }
    }
}
