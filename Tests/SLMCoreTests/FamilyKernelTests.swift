import CSLMKernels
import CSLMKernelsTesting
import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// The kernels the non-llama families added (GELU/GeGLU, NEOX RoPE, windowed F32 attention) and
/// the Swift LayerNorm: each SIMD or table version against its `_generic` twin bit for bit, and
/// against a Double reference.
final class FamilyKernelTests: XCTestCase {
    /// GELU through F16: the input and the result are each rounded to F16 (relative 2^-11 each);
    /// |gelu'| <= 1.13, so |got - exact| <= 2^-11 (1.13 |x| + |gelu(x)|) plus the F16 subnormal
    /// step (6e-8); 1e-3 (|x| + |y|) + 1e-7 is about twice that.
    static let geluRelativeTolerance = 1e-3
    static let geluAbsoluteTolerance = 1e-7
    /// As KernelTwinTests' RoPE bound: two roundings of values bounded by |x0| + |x1|.
    static let ropeReferenceTolerance = 1e-6
    /// As KernelTwinTests' F32 attention bound.
    static let attentionF32Tolerance = 1e-5
    /// LayerNorm of N(0, 1)-ish rows vs Double: a few float roundings of O(1) values.
    static let layerNormTolerance = 1e-5

    override func tearDown() {
        slm_set_force_generic(0)
        super.tearDown()
    }

    func testGELUMatchesGenericOnEveryHalfAndDoubleReference() {
        var inputs: [Float] = (0..<65536).map { slm_fp16_to_fp32(UInt16($0)) }.filter { !$0.isNaN }
        inputs += [10, -10, 9.999, -9.999, 12.5, -12.5, 0.1234567, 3.3333333, 1e-9]
        let up = inputs.indices.map { Float(1 + ($0 % 7)) * 0.37 }
        var table = [Float](repeating: .nan, count: inputs.count)
        var generic = table
        var gated = table
        var gatedGeneric = table
        slm_gelu(inputs, &table, Int64(inputs.count))
        slm_gelu_generic(inputs, &generic, Int64(inputs.count))
        slm_geglu(inputs, up, &gated, Int64(inputs.count))
        slm_geglu_generic(inputs, up, &gatedGeneric, Int64(inputs.count))
        var worst = 0.0
        for i in inputs.indices {
            XCTAssertEqual(table[i].bitPattern, generic[i].bitPattern, "gelu(\(inputs[i]))")
            XCTAssertEqual(gated[i].bitPattern, gatedGeneric[i].bitPattern, "geglu(\(inputs[i]))")
            XCTAssertEqual(gated[i], table[i] * up[i], "geglu(\(inputs[i])) = gelu * up")
            let x = Double(inputs[i])
            guard x.isFinite else { continue }
            let exact = x <= -10 ? 0 : x >= 10 ? x : 0.5 * x * (1 + tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x)))
            let limit = Self.geluRelativeTolerance * (abs(x) + abs(exact)) + Self.geluAbsoluteTolerance
            let error = abs(Double(table[i]) - exact)
            worst = max(worst, error / limit)
            XCTAssertLessThanOrEqual(error, limit, "gelu(\(x)) = \(table[i]), exact \(exact)")
        }
        XCTAssertLessThanOrEqual(worst, 1)
    }

    func testRopeNeoxMatchesGenericAndDoubleRotation() {
        var random = SeededGenerator(seed: 0x2E0_A)
        let shapes: [(heads: Int, headDim: Int, rotaryDims: Int)] = [(1, 64, 64), (4, 256, 256), (2, 80, 32), (3, 64, 16)]
        for shape in shapes {
            for position in [0, 1, 300, 32767] {
                let half = shape.rotaryDims / 2
                let cosTable = (0..<half).map { Float(cos(Double(position) * pow(10000, -2 * Double($0) / Double(shape.rotaryDims)))) }
                let sinTable = (0..<half).map { Float(sin(Double(position) * pow(10000, -2 * Double($0) / Double(shape.rotaryDims)))) }
                let x = (0..<(shape.heads * shape.headDim)).map { _ in Float(random.nextUnit() * 6 - 3) }
                var simd = x
                var generic = x
                slm_rope_neox(&simd, Int64(shape.heads), Int64(shape.headDim), Int64(shape.rotaryDims), cosTable, sinTable)
                slm_rope_neox_generic(
                    &generic, Int64(shape.heads), Int64(shape.headDim), Int64(shape.rotaryDims),
                    cosTable, sinTable)
                let what = "neox \(shape) pos=\(position)"
                XCTAssertEqual(simd.map(\.bitPattern), generic.map(\.bitPattern), what)
                for h in 0..<shape.heads {
                    let v = h * shape.headDim
                    for i in 0..<half {
                        let x0 = Double(x[v + i])
                        let x1 = Double(x[v + i + half])
                        let c = Double(cosTable[i])
                        let s = Double(sinTable[i])
                        let limit = Self.ropeReferenceTolerance * (abs(x0) + abs(x1))
                        XCTAssertLessThanOrEqual(abs(Double(simd[v + i]) - (x0 * c - x1 * s)), limit, "\(what) h=\(h) i=\(i)")
                        XCTAssertLessThanOrEqual(abs(Double(simd[v + i + half]) - (x0 * s + x1 * c)), limit, "\(what) h=\(h) i=\(i)")
                    }
                    for d in shape.rotaryDims..<shape.headDim {
                        XCTAssertEqual(simd[v + d].bitPattern, x[v + d].bitPattern, "\(what): untouched d=\(d)")
                    }
                }
            }
        }
    }

    /// Windowed F32 attention: SIMD == generic bit for bit, begin 0 == the unwindowed kernel, and
    /// the result is softmax attention over positions [begin, n) only.
    func testWindowedF32AttentionMatchesGenericAndReference() {
        var random = SeededGenerator(seed: 0xA77E_0005)
        for headDim in [64, 80, 256] {
            for positions in [1, 64, 65, 300] {
                let keys = (0..<(positions * headDim)).map { _ in slm_fp32_to_fp16(Float(random.nextUnit() * 4 - 2)) }
                let values = (0..<(positions * headDim)).map { _ in slm_fp32_to_fp16(Float(random.nextUnit() * 4 - 2)) }
                let query = (0..<headDim).map { _ in Float(random.nextUnit() * 2 - 1) }
                let scale = 1 / Float(headDim).squareRoot()
                var keysT = [Float](repeating: .nan, count: (positions + 63) / 64 * 64 * headDim)
                slm_attention_transpose_keys(keys, Int64(headDim), 0, Int64(positions), Int64(headDim), &keysT)
                let wideValues = values.map { slm_fp16_to_fp32($0) }
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: slm_attention_scratch_bytes(Int64(headDim)), alignment: 64)
                defer { scratch.deallocate() }
                var whole = [Float](repeating: .nan, count: headDim)
                slm_attention_head_f32_transposed(
                    query, keysT, wideValues, Int64(headDim), Int64(positions), Int64(headDim),
                    scale, &whole, scratch)
                for begin in Set([0, 1, 63, 64, 100, positions - 1]) where begin < positions {
                    var simd = [Float](repeating: .nan, count: headDim)
                    var generic = simd
                    slm_attention_head_f32_window(
                        query, keysT, wideValues, Int64(headDim), Int64(begin), Int64(positions),
                        Int64(headDim), scale, 0, &simd, scratch)
                    slm_attention_head_f32_window_generic(
                        query, keysT, wideValues, Int64(headDim), Int64(begin),
                        Int64(positions), Int64(headDim), scale, 0, &generic, scratch)
                    let what = "window head_dim=\(headDim) n=\(positions) begin=\(begin)"
                    XCTAssertEqual(simd.map(\.bitPattern), generic.map(\.bitPattern), what)
                    if begin == 0 { XCTAssertEqual(simd.map(\.bitPattern), whole.map(\.bitPattern), what) }
                    // Double reference over the window.
                    let scores = (begin..<positions).map { p in
                        Double(scale)
                            * (0..<headDim).reduce(0.0) { $0 + Double(query[$1]) * Double(slm_fp16_to_fp32(keys[p * headDim + $1])) }
                    }
                    let top = scores.max()!
                    let weights = scores.map { exp($0 - top) }
                    let total = weights.reduce(0, +)
                    for d in 0..<headDim {
                        var acc = 0.0
                        for (j, p) in (begin..<positions).enumerated() {
                            acc += weights[j] * Double(slm_fp16_to_fp32(values[p * headDim + d]))
                        }
                        XCTAssertEqual(Double(simd[d]), acc / total, accuracy: Self.attentionF32Tolerance, "\(what) d=\(d)")
                    }
                }
            }
        }
    }

    /// The heads of a KV group through the group kernel: exactly one single windowed run per head
    /// (SIMD and generic), for groups of 1 to 7 heads (pairs and a last single), head sizes that
    /// take the vector paths (multiples of 32, of 8 only) and one that does not, partial and
    /// whole tiles, windows and soft-capping.
    func testHeadGroupAttentionEqualsSingleHeadsBitForBit() {
        var random = SeededGenerator(seed: 0xA77E_0007)
        var cases = 0
        for headDim in [36, 40, 64, 80, 256] {
            for positions in [1, 63, 64, 65, 300] {
                let keys = (0..<(positions * headDim)).map { _ in slm_fp32_to_fp16(Float(random.nextUnit() * 4 - 2)) }
                let values = (0..<(positions * headDim)).map { _ in
                    slm_fp16_to_fp32(slm_fp32_to_fp16(Float(random.nextUnit() * 4 - 2)))
                }
                // Stale NaNs in the last tile's unused lanes must not reach the result.
                var keysT = [Float](repeating: .nan, count: (positions + 63) / 64 * 64 * headDim)
                slm_attention_transpose_keys(keys, Int64(headDim), 0, Int64(positions), Int64(headDim), &keysT)
                for heads in [1, 2, 3, 4, 7] {
                    let queries = (0..<(heads * headDim)).map { _ in Float(random.nextUnit() * 2 - 1) }
                    let scratchBytes = slm_attention_group_scratch_bytes(Int64(headDim), Int64(heads))
                    let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
                    defer { scratch.deallocate() }
                    for (begin, softcap) in [(0, Float(0)), (positions / 3, 0), (positions - 1, 0), (positions / 2, 2)] {
                        let scale = 1 / Float(headDim).squareRoot() / (softcap == 0 ? 1 : softcap)
                        var group = [Float](repeating: .nan, count: heads * headDim)
                        var groupGeneric = group
                        var singles = group
                        slm_attention_head_group_f32_window(
                            queries, Int64(heads), keysT, values, Int64(headDim), Int64(begin), Int64(positions),
                            Int64(headDim), scale, softcap, &group, scratch)
                        slm_attention_head_group_f32_window_generic(
                            queries, Int64(heads), keysT, values, Int64(headDim), Int64(begin), Int64(positions),
                            Int64(headDim), scale, softcap, &groupGeneric, scratch)
                        singles.withUnsafeMutableBufferPointer { out in
                            queries.withUnsafeBufferPointer { q in
                                for i in 0..<heads {
                                    slm_attention_head_f32_window_generic(
                                        q.baseAddress! + i * headDim, keysT, values, Int64(headDim), Int64(begin),
                                        Int64(positions), Int64(headDim), scale, softcap,
                                        out.baseAddress! + i * headDim, scratch)
                                }
                            }
                        }
                        let what = "group of \(heads) head_dim=\(headDim) n=\(positions) begin=\(begin) softcap=\(softcap)"
                        XCTAssertFalse(singles.contains { $0.isNaN }, what)
                        XCTAssertEqual(group.map(\.bitPattern), singles.map(\.bitPattern), what)
                        XCTAssertEqual(groupGeneric.map(\.bitPattern), singles.map(\.bitPattern), what + " (generic)")
                        cases += 1
                    }
                }
            }
        }
        XCTAssertEqual(cases, 5 * 5 * 5 * 4)
    }

    /// Soft-capped attention (Gemma 2), both modes: SIMD == generic bit for bit and the result is
    /// softmax over cap·tanh(scale·q·k). The F16 mode is checked through a one-slice merge, as
    /// Ops.attention runs it, with the F16 tolerance of KernelTwinTests (query rounded to F16).
    func testSoftcappedAttentionMatchesGenericAndReference() {
        var random = SeededGenerator(seed: 0xA77E_0006)
        let cap: Float = 2
        let f16Tolerance = 5e-3
        for headDim in [64, 256] {
            for positions in [1, 65, 300] {
                let keys = (0..<(positions * headDim)).map { _ in slm_fp32_to_fp16(Float(random.nextUnit() * 4 - 2)) }
                let values = (0..<(positions * headDim)).map { _ in slm_fp32_to_fp16(Float(random.nextUnit() * 4 - 2)) }
                let query = (0..<headDim).map { _ in Float(random.nextUnit() * 2 - 1) }
                let scale = 1 / Float(headDim).squareRoot() / cap
                let begin = positions / 3
                var keysT = [Float](repeating: .nan, count: (positions + 63) / 64 * 64 * headDim)
                slm_attention_transpose_keys(keys, Int64(headDim), 0, Int64(positions), Int64(headDim), &keysT)
                let wideValues = values.map { slm_fp16_to_fp32($0) }
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: slm_attention_scratch_bytes(Int64(headDim)), alignment: 64)
                defer { scratch.deallocate() }
                var f32 = [Float](repeating: .nan, count: headDim)
                var f32Generic = f32
                slm_attention_head_f32_window(
                    query, keysT, wideValues, Int64(headDim), Int64(begin), Int64(positions),
                    Int64(headDim), scale, cap, &f32, scratch)
                slm_attention_head_f32_window_generic(
                    query, keysT, wideValues, Int64(headDim), Int64(begin), Int64(positions),
                    Int64(headDim), scale, cap, &f32Generic, scratch)
                var partial = [Float](repeating: .nan, count: 2 + headDim)
                var partialGeneric = partial
                slm_attention_partial_capped(
                    query, keys, Int64(headDim), values, Int64(headDim), Int64(begin),
                    Int64(positions), Int64(headDim), scale, cap, &partial, scratch)
                slm_attention_partial_capped_generic(
                    query, keys, Int64(headDim), values, Int64(headDim), Int64(begin),
                    Int64(positions), Int64(headDim), scale, cap, &partialGeneric, scratch)
                var f16 = [Float](repeating: .nan, count: headDim)
                slm_attention_merge(partial, 1, Int64(headDim), &f16)
                let what = "capped head_dim=\(headDim) n=\(positions)"
                XCTAssertEqual(f32.map(\.bitPattern), f32Generic.map(\.bitPattern), what + " F32")
                XCTAssertEqual(partial.map(\.bitPattern), partialGeneric.map(\.bitPattern), what + " F16")
                func reference(_ q: [Float]) -> [Double] {
                    let scores = (begin..<positions).map { p in
                        Double(cap)
                            * tanh(
                                Double(scale)
                                    * (0..<headDim).reduce(0.0) {
                                        $0 + Double(q[$1]) * Double(slm_fp16_to_fp32(keys[p * headDim + $1]))
                                    })
                    }
                    let top = scores.max()!
                    let weights = scores.map { exp($0 - top) }
                    let total = weights.reduce(0, +)
                    return (0..<headDim).map { d in
                        zip(begin..<positions, weights).reduce(0.0) { $0 + $1.1 * Double(slm_fp16_to_fp32(values[$1.0 * headDim + d])) }
                            / total
                    }
                }
                let exact = reference(query)
                let exactHalfQuery = reference(query.map { slm_fp16_to_fp32(slm_fp32_to_fp16($0)) })
                for d in 0..<headDim {
                    XCTAssertEqual(Double(f32[d]), exact[d], accuracy: Self.attentionF32Tolerance, "\(what) F32 d=\(d)")
                    XCTAssertEqual(Double(f16[d]), exactHalfQuery[d], accuracy: f16Tolerance, "\(what) F16 d=\(d)")
                }
            }
        }
    }

    func testLayerNormMatchesDoubleReference() {
        var random = SeededGenerator(seed: 0x1A7E_0001)
        let count = 96
        let x = (0..<count).map { _ in Float(random.nextUnit() * 4 - 1.5) }
        let weight = (0..<count).map { _ in Float(random.nextUnit() + 0.5) }
        let bias = (0..<count).map { _ in Float(random.nextUnit() - 0.5) }
        var y = [Float](repeating: 0, count: count)
        Ops.layerNorm(x, weight: weight, bias: bias, eps: 1e-5, count: count, into: &y)
        let mean = x.reduce(0.0) { $0 + Double($1) } / Double(count)
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(count)
        for i in 0..<count {
            let exact = (Double(x[i]) - mean) / (variance + 1e-5).squareRoot() * Double(weight[i]) + Double(bias[i])
            XCTAssertEqual(Double(y[i]), exact, accuracy: Self.layerNormTolerance, "i=\(i)")
        }
    }
}
