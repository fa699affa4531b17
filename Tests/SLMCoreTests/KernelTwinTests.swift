import CSLMKernels
import CSLMKernelsTesting
import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Every SIMD kernel against its scalar `_generic` twin (DESIGN.md: "Every SIMD kernel has a
/// scalar _generic twin and a test against it"), plus each against a Double reference.
///
/// Hermetic: all inputs come from `SeededGenerator` with fixed seeds. Where a twin is built from
/// the same C source (SwiGLU's tail, RoPE, attention) the only difference is fmaf as a libm call
/// versus one FMA instruction, both exactly rounded, so the outputs must be bit-identical. The
/// AVX2 dot kernels sum the per-block float terms in a different order (eight lanes, then a tree)
/// than the scalar loop, so they are compared with a tolerance.
final class KernelTwinTests: XCTestCase {
    // MARK: - Tolerances

    /// SIMD vs generic dot kernels, relative to B = sum_i |w_i * a_i| in Double over the dequantized
    /// rows (for types with a minimum — Q4_1, Q5_1, Q4_K, Q5_K — the scale part and the min part
    /// counted apart, since the kernels add them as separate float terms that can cancel; see
    /// `dotMagnitude`). Both kernels compute every block's integer dot exactly (quantized types)
    /// or the same products (float types); they differ only in the order T float terms are rounded
    /// and added (`floatTerms`). Each rounding is at most 2^-24 of a partial sum bounded by B, and
    /// independent roundings grow like sqrt(T), so the bound is
    /// `dotTwinRoundingSigmas` * 2^-24 * sqrt(T) * B (observed <= 0.2 of it). An indexing or scale
    /// bug is off by about a whole term, ~B / T, above the bound for every T tested; the same
    /// tolerance is used by the C twin test (Tests/CKernelTests/kernel_twins.c).
    static let dotTwinRoundingSigmas = 8.0
    /// slm_swiglu vs exact x / (1 + e^-x) * up in Double, relative, for |x| < 80: the fast exp is
    /// good to ~2 ulp and 1 + e, the division and the product add 0.5 ulp each, ~4 ulp = 2.4e-7 in
    /// all; beyond |x| ~ 87 e^-x leaves the float range, so the bound is only claimed below 80.
    static let swigluReferenceRelativeTolerance = 1e-6
    /// Rotated pair vs the Double rotation with the same (float) cos/sin, absolute, per unit of
    /// |x0| + |x1|: fma(x0, c, -(x1 * s)) rounds twice (product, then sum), each <= 2^-24 of a
    /// value bounded by |x0| + |x1|, i.e. <= 1.2e-7 of it; 1e-6 is 8x that.
    static let ropeReferenceTolerance = 1e-6
    /// F32 attention vs Double softmax attention on the same F16-rounded K/V, absolute, with
    /// q, k, v ~ N(0, 1): scores are float dots (error ~ sqrt(head_dim) ulp of |s| ~ 1e-6),
    /// weights come from the fast exp (~2 ulp), the output is a convex combination of |v| <~ 4.
    /// Observed errors are <= 1e-6; 1e-5 is what the design asks of the F32 mode.
    static let attentionF32Tolerance = 1e-5
    /// F16-accumulate attention vs the Double reference (with the query rounded to F16 as the mode
    /// specifies), absolute: the weighted sum of V is held in F16 (11-bit significand), rounded
    /// at every position and at every rescale. With acc ~ a few units the rounding step is
    /// ~2e-3 and the errors partly cancel over positions before being divided by the weight sum
    /// (observed <= 1.1e-3 over the cases below).
    static let attentionF16Tolerance = 5e-3
    /// Split (partial + merge) vs one slm_attention_head F16 call over the whole range, absolute:
    /// each slice restarts its F16 accumulator, so the rounding sequence differs; both are within
    /// `attentionF16Tolerance` of the exact value (observed differences <= 1.4e-3).
    static let splitTolerance = 5e-3

    override func tearDown() {
        slm_set_force_generic(0)
        slm_set_x86_quant_build(Int32(SLM_X86_QUANT_BEST.rawValue))
        super.tearDown()
    }

    // MARK: - 1. Dot kernels: AVX2 vs generic

    static let allWeightTypes = [
        SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_BF16, SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0,
        SLM_TYPE_Q5_1, SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K,
    ]
    /// The largest K tested: an embedding width beyond any edge model's.
    static let largestK = 65536
    /// Per block size: the smallest K (one block, one element), odd tails for the float rows
    /// (not a multiple of any vector step), real model widths, and `largestK`.
    static let dotSizes: [Int64: [Int]] = [
        1: [1, 7, 31, 33, 100, 576, 4096 + 17, largestK + 5],
        32: [32, 96, 576, 1536, 4096, largestK],
        256: [256, 768, 2304, 4864, largestK],
    ]
    static let dotRowsPerSize = 4

    func testVecDotAVX2MatchesGeneric() throws {
        try assertKernelsMatchGeneric(seed: 0xD07_2024, types: Self.allWeightTypes.map(id), "avx2") { type in
            slm_vec_dot_kernel_avx2(type)
        }
    }

    /// The kernels in llama.cpp's batch orders (Q4_K's repacked gemm, Q5_K / Q6_K's tiled kernel),
    /// which slm_vec_dot_kernel_for_batch picks for batches, against the same generic twins.
    func testVecDotAVX2BatchOrdersMatchGeneric() throws {
        let batchTypes = [SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K].map(id)
        try assertKernelsMatchGeneric(seed: 0xBA7C_4, types: batchTypes, "avx2 batch order") { type in
            slm_vec_dot_kernel_avx2_for_batch(type, 8, 0)
        }
        // Which tokens take them: Q4_K full groups of 4, Q5_K / Q6_K batches of 8 or more.
        let q4K = id(SLM_TYPE_Q4_K)
        let q6K = id(SLM_TYPE_Q6_K)
        XCTAssertNotNil(slm_vec_dot_kernel_avx2_for_batch(q4K, 5, 3))
        XCTAssertNil(slm_vec_dot_kernel_avx2_for_batch(q4K, 5, 4))
        XCTAssertNil(slm_vec_dot_kernel_avx2_for_batch(q4K, 3, 0))
        XCTAssertNil(slm_vec_dot_kernel_avx2_for_batch(q6K, 7, 0))
        XCTAssertNotNil(slm_vec_dot_kernel_avx2_for_batch(q6K, 8, 7))
        XCTAssertNil(slm_vec_dot_kernel_avx2_for_batch(id(SLM_TYPE_Q8_0), 64, 0))
        XCTAssertEqual(address(slm_vec_dot_kernel_for_batch(q4K, 1, 0)), address(slm_vec_dot_kernel(q4K)))
    }

    private func assertKernelsMatchGeneric(
        seed: UInt64, types: [Int32], _ variant: String,
        _ lookup: (Int32) -> slm_vec_dot_fn?
    ) throws {
        var random = SeededGenerator(seed: seed)
        var compared = 0
        var expected = 0
        for type in types {
            let name = String(cString: slm_type_name(type))
            guard let simd = lookup(type) else {
                throw XCTSkip("this CPU has no \(variant) variant of the \(name) dot kernel (AVX2+FMA+F16C)")
            }
            let generic = try XCTUnwrap(slm_vec_dot_kernel_generic(type), name)
            let sizes = try XCTUnwrap(Self.dotSizes[slm_type_block_elements(type)], name)
            expected += sizes.count * Self.dotRowsPerSize
            for n in sizes {
                for row in 0..<Self.dotRowsPerSize {
                    let (weights, act) = randomDotRows(type, n: n, uniformScale: row == 0, &random)
                    let bound = dotMagnitude(type: type, weights: weights, activations: act, n: n)
                    XCTAssertGreaterThan(bound, 0)
                    let (got, want) = weights.withUnsafeBytes { w in
                        act.withUnsafeBytes { a in
                            (simd(Int64(n), w.baseAddress, a.baseAddress), generic(Int64(n), w.baseAddress, a.baseAddress))
                        }
                    }
                    let tolerance = dotTolerance(type: type, n: n, bound: bound)
                    let what = "\(name) n=\(n) row=\(row): \(variant) \(got), generic \(want), tolerance \(tolerance)"
                    XCTAssertTrue(got.isFinite && want.isFinite, what)
                    XCTAssertLessThanOrEqual(abs(Double(got) - Double(want)), tolerance, what)
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, expected)
    }

    /// slm_matvec / slm_matmul through the dispatch (the SIMD kernels here) over row ranges and
    /// token counts that are not multiples of any tile, starting at an odd row: every output
    /// within the twin tolerance of the generic dot of its (row, token), nothing outside the
    /// range written.
    func testMatvecAndMatmulOddShapesMatchGeneric() throws {
        var random = SeededGenerator(seed: 0x0DD_5A9E)
        let rowBegin = 3
        for type in Self.allWeightTypes.map(id) {
            let name = String(cString: slm_type_name(type))
            let generic = try XCTUnwrap(slm_vec_dot_kernel_generic(type), name)
            let block = Int(slm_type_block_elements(type))
            let n = block == 1 ? 33 : 3 * block
            let actType = slm_type_activation_type(type)
            let rowBytes = slm_row_bytes(type, Int64(n))
            let actBytes = slm_row_bytes(actType, Int64(n))
            for rows in [1, 7, 17] {
                let total = rowBegin + rows + 2
                var weights = [UInt8]()
                for _ in 0..<total { weights += randomWeightRow(type, n: n, &random) }
                for tokens in [1, 3, 5] {
                    var acts = [UInt8]()
                    for _ in 0..<tokens {
                        acts += quantize(actType, (0..<n).map { _ in Float(uniform(-1, 1, &random)) * blockMagnitude(&random) })
                    }
                    let stride = total + 1
                    var out = [Float](repeating: .nan, count: stride * tokens)
                    weights.withUnsafeBytes { w in
                        acts.withUnsafeBytes { a in
                            if tokens == 1 {
                                slm_matvec(
                                    type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, &out,
                                    Int64(rowBegin), Int64(rowBegin + rows))
                            } else {
                                slm_matmul(
                                    type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, actBytes, Int64(tokens),
                                    &out, Int64(stride), Int64(rowBegin), Int64(rowBegin + rows))
                            }
                        }
                    }
                    for t in 0..<tokens {
                        for r in 0..<stride {
                            let got = out[t * stride + r]
                            let what = "\(name) rows=\(rows) tokens=\(tokens) row \(r) token \(t): \(got)"
                            guard r >= rowBegin && r < rowBegin + rows else {
                                XCTAssertTrue(got.isNaN, "\(what) written outside the row range")
                                continue
                            }
                            let w = Array(weights[(r * rowBytes)..<((r + 1) * rowBytes)])
                            let a = Array(acts[(t * actBytes)..<((t + 1) * actBytes)])
                            let want = w.withUnsafeBytes { wp in a.withUnsafeBytes { generic(Int64(n), wp.baseAddress, $0.baseAddress) } }
                            let tolerance = dotTolerance(
                                type: type, n: n, bound: dotMagnitude(type: type, weights: w, activations: a, n: n))
                            XCTAssertLessThanOrEqual(abs(Double(got) - Double(want)), tolerance, "\(what) vs generic \(want)")
                        }
                    }
                }
            }
        }
    }

    // MARK: - 1b. Matmul tiles: bit-identical to the pair-by-pair dots

    /// slm_matmul through the AVX2 tiles (2 rows x 4 tokens) and panels must give exactly the bits of
    /// slm_vec_dot for every pair (prompt logits then equal decode's and llama.cpp's), including
    /// ragged edges: row and token counts that are not multiples of the tile, the smallest K
    /// (one block) and a row range that starts at an odd row.
    func testMatmulTilesEqualPairByPairDotsBitForBit() throws {
        var random = SeededGenerator(seed: 0x7113_2026)
        for type in [SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q8_0].map(id) {
            let name = String(cString: slm_type_name(type))
            var panelTokens: Int64 = 0
            guard slm_matmul_tile_kernel(type).fn != nil || slm_matmul_panel_kernel(type, 8, 0, 8, &panelTokens).fn != nil else {
                throw XCTSkip("no matmul tile or panel for \(name) on this CPU")
            }
            let actType = slm_type_activation_type(type)
            // The x86 panels of Q4_1, Q5_0 and Q8_0 (4 rows): 70 tokens cross their 64-token passes;
            // 2,080 columns (65 blocks) their 32-block chunks, with a one-block tail.
            for (n, rows, tokens) in [(32, 2, 4), (576, 5, 9), (1536, 18, 17), (96, 33, 3), (64, 4, 64), (128, 9, 70), (2080, 5, 13)] {
                let rowBytes = slm_row_bytes(type, Int64(n))
                let actBytes = slm_row_bytes(actType, Int64(n))
                var weights: [UInt8] = []
                for _ in 0..<rows { weights += randomWeightRow(type, n: n, &random) }
                var acts: [UInt8] = []
                for _ in 0..<tokens {
                    acts += quantize(actType, (0..<n).map { _ in Float(uniform(-1, 1, &random)) * blockMagnitude(&random) })
                }
                let begin = rows > 2 ? 1 : 0
                var out = [Float](repeating: -7, count: tokens * rows)
                var want = out
                weights.withUnsafeBytes { w in
                    acts.withUnsafeBytes { a in
                        slm_matmul(
                            type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, actBytes, Int64(tokens),
                            &out, Int64(rows), Int64(begin), Int64(rows))
                        for t in 0..<tokens {
                            for r in begin..<rows {
                                want[t * rows + r] = slm_vec_dot(
                                    type, Int64(n), w.baseAddress! + r * rowBytes, a.baseAddress! + t * actBytes)
                            }
                        }
                    }
                }
                for i in 0..<out.count where out[i].bitPattern != want[i].bitPattern {
                    XCTFail(
                        "\(name) n=\(n) rows=\(rows) tokens=\(tokens): token \(i / rows) row \(i % rows): tile \(out[i]), dot \(want[i])")
                    break
                }
            }
        }
    }

    /// slm_matvec through the decode tiles (8 rows x 1 token for Q4_0, 4 x 1 for Q4_1, Q5_0 and
    /// Q8_0) must give exactly the bits of slm_vec_dot for every row (decode logits stay equal to
    /// llama.cpp's), including ranges that start mid-group and leave rows for the dot, and the
    /// smallest K (one block).
    func testMatvecTilesEqualDotsBitForBit() throws {
        var random = SeededGenerator(seed: 0x0DEC_2026)
        for type in [SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q8_0].map(id) {
            let name = String(cString: slm_type_name(type))
            guard slm_matvec_tile_kernel(type).fn != nil else { throw XCTSkip("no matvec tile for \(name) on this CPU") }
            let actType = slm_type_activation_type(type)
            for (n, rows, begin) in [(32, 8, 0), (576, 17, 1), (1536, 24, 0), (96, 41, 3), (64, 7, 0)] {
                let rowBytes = slm_row_bytes(type, Int64(n))
                var weights: [UInt8] = []
                for _ in 0..<rows { weights += randomWeightRow(type, n: n, &random) }
                let act = quantize(actType, (0..<n).map { _ in Float(uniform(-1, 1, &random)) * blockMagnitude(&random) })
                var out = [Float](repeating: -7, count: rows)
                var want = out
                weights.withUnsafeBytes { w in
                    act.withUnsafeBytes { a in
                        slm_matvec(type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, &out, Int64(begin), Int64(rows))
                        for r in begin..<rows {
                            want[r] = slm_vec_dot(type, Int64(n), w.baseAddress! + r * rowBytes, a.baseAddress)
                        }
                    }
                }
                for r in 0..<rows where out[r].bitPattern != want[r].bitPattern {
                    XCTFail("\(name) n=\(n) rows=\(rows) begin=\(begin): row \(r): tile \(out[r]), dot \(want[r])")
                    break
                }
            }
        }
    }

    /// Q4_0's tiles keep block sums in wrapping int16 (stored nibbles times activations, minus
    /// 8 * the activations' sum): at the extremes, every weight at -8 or +7 times activations all
    /// at +-127 (block sums of +-32512 and 28448), decode and prompt tiles still give the dot's bits.
    func testQ4_0TilesAtExtremeBlockSums() throws {
        let type = id(SLM_TYPE_Q4_0)
        guard slm_matvec_tile_kernel(type).fn != nil, slm_matmul_tile_kernel(type).fn != nil else {
            throw XCTSkip("no Q4_0 tiles on this CPU")
        }
        let n = 64
        let rows = 8
        let tokens = 4
        let q8 = id(SLM_TYPE_Q8_0)
        let rowBytes = slm_row_bytes(type, Int64(n))
        let actBytes = slm_row_bytes(q8, Int64(n))
        var weights: [UInt8] = []
        // Blocks of 18 bytes: d (F16), then 16 bytes of nibbles: all 0 (q - 8 = -8) on even rows,
        // all 15 (+7) on odd ones.
        for r in 0..<rows {
            var row = [UInt8](repeating: r % 2 == 0 ? 0x00 : 0xFF, count: rowBytes)
            for b in 0..<(n / 32) { putHalf(&row, b * 18, 0.125) }
            weights += row
        }
        var acts: [UInt8] = []
        for t in 0..<tokens { acts += quantize(q8, [Float](repeating: t % 2 == 0 ? 1 : -1, count: n)) }
        var decode = [Float](repeating: .nan, count: rows)
        var prompt = [Float](repeating: .nan, count: rows * tokens)
        var want = prompt
        weights.withUnsafeBytes { w in
            acts.withUnsafeBytes { a in
                slm_matvec(type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, &decode, 0, Int64(rows))
                slm_matmul(
                    type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, actBytes, Int64(tokens),
                    &prompt, Int64(rows), 0, Int64(rows))
                for t in 0..<tokens {
                    for r in 0..<rows {
                        want[t * rows + r] = slm_vec_dot(type, Int64(n), w.baseAddress! + r * rowBytes, a.baseAddress! + t * actBytes)
                    }
                }
            }
        }
        XCTAssertEqual(decode.map(\.bitPattern), Array(want[0..<rows]).map(\.bitPattern), "decode tile")
        XCTAssertEqual(prompt.map(\.bitPattern), want.map(\.bitPattern), "prompt tile")
        // The extremes were reached: an all -8 row times all +127 is -2 blocks * 32512 * d_w * d_a.
        XCTAssertLessThan(want[0], 0)
    }

    /// F16 batches (blocks converted to F32 once, 3 x 3 tiles, x86/dot_avx2.c) must give every
    /// pair the bits of the F16 dot, for widths with and without a tail, token counts and row
    /// ranges that leave ragged tiles and cross the blocks (18 rows, 48 tokens); without AVX2 the
    /// pair-by-pair path is what runs (and is checked).
    func testF16BatchEqualsItsDotBitForBit() throws {
        var random = SeededGenerator(seed: 0xF16_2026)
        let type = id(SLM_TYPE_F16)
        for (n, rows, tokens) in [(384, 37, 33), (100, 5, 2), (1536, 18, 17), (32, 3, 1), (7, 2, 3), (64, 41, 101)] {
            let rowBytes = slm_row_bytes(type, Int64(n))
            var weights: [UInt8] = []
            for _ in 0..<rows { weights += quantize(type, (0..<n).map { _ in Float(uniform(-1, 1, &random)) }) }
            var acts: [UInt8] = []
            for _ in 0..<tokens { acts += quantize(type, (0..<n).map { _ in Float(uniform(-2, 2, &random)) }) }
            let begin = 1
            var out = [Float](repeating: -7, count: tokens * rows)
            var want = out
            weights.withUnsafeBytes { w in
                acts.withUnsafeBytes { a in
                    slm_matmul_in_batch(
                        type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, rowBytes, Int64(tokens),
                        Int64(tokens), 0, &out, Int64(rows), Int64(begin), Int64(rows))
                    let dot = slm_vec_dot_kernel(type)!
                    for t in 0..<tokens {
                        for r in begin..<rows {
                            want[t * rows + r] = dot(Int64(n), w.baseAddress! + r * rowBytes, a.baseAddress! + t * rowBytes)
                        }
                    }
                }
            }
            XCTAssertEqual(out.map(\.bitPattern), want.map(\.bitPattern), "F16 n=\(n) rows=\(rows) tokens=\(tokens)")
        }
    }

    /// The K-quant tiles (one row x 4 tokens in llama.cpp's batch orders) and the Q4_K and Q6_K
    /// panels (8 rows by the batch order's tokens) must give, for every pair, the bits of the batch-order dot
    /// slm_vec_dot_kernel_for_batch picks for that token: whole batches and chunks placed anywhere
    /// in one, including tokens past the last full group of 4 (Q4_K) and batches under 8 tokens
    /// (Q6_K), where no tile applies; 7 rows (tiles only) and 20 (two panels and three rows left).
    func testKQuantTilesEqualTheirBatchDotsBitForBit() throws {
        var random = SeededGenerator(seed: 0x4B71_2026)
        let n = 512
        for rows in [7, 20] {
            for type in [SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K].map(id) {
                let name = String(cString: slm_type_name(type))
                let actType = slm_type_activation_type(type)
                let rowBytes = slm_row_bytes(type, Int64(n))
                let actBytes = slm_row_bytes(actType, Int64(n))
                var weights: [UInt8] = []
                for _ in 0..<rows { weights += randomWeightRow(type, n: n, &random) }
                // (tokens of the chunk, its offset, tokens of the batch)
                for (tokens, offset, batch) in [(70, 0, 70), (64, 0, 70), (5, 64, 70), (9, 3, 13), (6, 0, 6), (17, 0, 17)] {
                    var acts: [UInt8] = []
                    for _ in 0..<tokens { acts += quantize(actType, (0..<n).map { _ in Float(uniform(-1, 1, &random)) }) }
                    let begin = 1
                    var out = [Float](repeating: -7, count: tokens * rows)
                    var want = out
                    weights.withUnsafeBytes { w in
                        acts.withUnsafeBytes { a in
                            slm_matmul_in_batch(
                                type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, actBytes, Int64(tokens),
                                Int64(batch), Int64(offset), &out, Int64(rows), Int64(begin), Int64(rows))
                            for t in 0..<tokens {
                                let dot = slm_vec_dot_kernel_for_batch(type, Int64(batch), Int64(offset + t))!
                                for r in begin..<rows {
                                    want[t * rows + r] = dot(Int64(n), w.baseAddress! + r * rowBytes, a.baseAddress! + t * actBytes)
                                }
                            }
                        }
                    }
                    for i in 0..<out.count where out[i].bitPattern != want[i].bitPattern {
                        XCTFail(
                            "\(name) rows=\(rows) tokens=\(tokens) at \(offset) of \(batch): token \(i / rows) row \(i % rows): tile \(out[i]), dot \(want[i])"
                        )
                        break
                    }
                }
            }
        }
    }

    /// A prompt fed in chunks must sum every pair as the whole batch would: for each type (the
    /// K-quants' batch order depends on the batch size and the token's place in it), the chunks of
    /// a 70-token batch multiplied with slm_matmul_in_batch give the bits of one slm_matmul over
    /// all 70, including a 6-token last chunk and a 1-token one; 6 rows and 19 (panels too).
    func testChunksOfABatchEqualTheWholeBatchBitForBit() throws {
        var random = SeededGenerator(seed: 0xC4A2_2026)
        let n = 512
        let tokens = 70
        for rows in [6, 19] {
            for type in [SLM_TYPE_Q4_0, SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K].map(id) {
                let name = String(cString: slm_type_name(type))
                let actType = slm_type_activation_type(type)
                let rowBytes = slm_row_bytes(type, Int64(n))
                let actBytes = slm_row_bytes(actType, Int64(n))
                var weights: [UInt8] = []
                for _ in 0..<rows { weights += randomWeightRow(type, n: n, &random) }
                var acts: [UInt8] = []
                for _ in 0..<tokens { acts += quantize(actType, (0..<n).map { _ in Float(uniform(-1, 1, &random)) }) }
                var whole = [Float](repeating: 0, count: tokens * rows)
                var chunked = [Float](repeating: -7, count: tokens * rows)
                weights.withUnsafeBytes { w in
                    acts.withUnsafeBytes { a in
                        slm_matmul(
                            type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, actBytes, Int64(tokens),
                            &whole, Int64(rows), 0, Int64(rows))
                        for (first, count) in [(0, 64), (64, 5), (69, 1)] {
                            chunked.withUnsafeMutableBufferPointer { out in
                                slm_matmul_in_batch(
                                    type, w.baseAddress, rowBytes, Int64(n), a.baseAddress! + first * actBytes,
                                    actBytes, Int64(count), Int64(tokens), Int64(first),
                                    out.baseAddress! + first * rows, Int64(rows), 0, Int64(rows))
                            }
                        }
                    }
                }
                for i in 0..<whole.count where whole[i].bitPattern != chunked[i].bitPattern {
                    XCTFail("\(name) rows=\(rows): token \(i / rows) row \(i % rows): chunked \(chunked[i]), whole batch \(whole[i])")
                    break
                }
            }
        }
    }

    // MARK: - 1c. The VNNI builds of the quantized kernels: the AVX2 build's bits

    /// The VNNI code (x86/quant_body.h) with vpdpbusd / vpdpwssd emulated exactly in AVX2: runs on
    /// every AVX2 CPU, so the VNNI builds' logic is checked bit for bit where no VNNI CPU is at hand.
    func testVNNIEmulatedBuildEqualsAVX2BitForBit() throws {
        try assertQuantBuildEqualsAVX2(SLM_X86_QUANT_VNNI_EMULATED, "VNNI emulated in AVX2", flags: ["avx2", "fma", "f16c"])
    }

    /// The native AVX-VNNI build (VEX vpdpbusd): skipped, with the reason, where the CPU lacks it.
    func testAVXVNNIBuildEqualsAVX2BitForBit() throws {
        try assertQuantBuildEqualsAVX2(SLM_X86_QUANT_AVXVNNI, "AVX-VNNI", flags: ["avx_vnni"])
    }

    /// The native AVX512-VNNI build (EVEX vpdpbusd on 256-bit registers): skipped, with the reason,
    /// where the CPU lacks it.
    func testAVX512VNNIBuildEqualsAVX2BitForBit() throws {
        try assertQuantBuildEqualsAVX2(
            SLM_X86_QUANT_AVX512VNNI, "AVX512-VNNI", flags: ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"])
    }

    static let quantTypes = [
        SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q5_1, SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K,
        SLM_TYPE_Q6_K,
    ]

    /// The CPU flags of /proc/cpuinfo among `wanted`, for the skip message: "avx_vnni: no, ...".
    private func cpuinfoFlags(_ wanted: [String]) -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
        return wanted.map { "\($0): \(flags.contains($0) ? "yes" : "no")" }.joined(separator: ", ")
    }

    /// One build against the AVX2 build, bit for bit: every quantized dot and batch-order dot on
    /// random rows, rows at the extremes (all-max and all-min quants times activations of +-127)
    /// and activation bytes drawn at random (-128 included, which no quantizer writes); then
    /// slm_matvec / slm_matmul_in_batch with the dispatch forced to the build against the same
    /// calls through AVX2; then the tile tests above, which check the build's tiles against its
    /// own dots. Against the generic twins: the twin tolerance, as the AVX2 table.
    private func assertQuantBuildEqualsAVX2(_ build: slm_x86_quant_build_id, _ what: String, flags: [String]) throws {
        let buildID = Int32(build.rawValue)
        guard slm_vec_dot_kernel_avx2(id(SLM_TYPE_Q8_0)) != nil else {
            throw XCTSkip(
                "not x86-64 with AVX2+FMA+F16C, nothing to compare the \(what) build with (cpuinfo flags: \(cpuinfoFlags(flags)))")
        }
        let dotTable: (Int32) -> slm_vec_dot_fn?
        let batchTable: (Int32, Int64, Int64) -> slm_vec_dot_fn?
        switch build {
        case SLM_X86_QUANT_AVXVNNI:
            dotTable = { slm_vec_dot_kernel_avxvnni($0) }
            batchTable = { slm_vec_dot_kernel_avxvnni_for_batch($0, $1, $2) }
        case SLM_X86_QUANT_AVX512VNNI:
            dotTable = { slm_vec_dot_kernel_avx512vnni($0) }
            batchTable = { slm_vec_dot_kernel_avx512vnni_for_batch($0, $1, $2) }
        default:
            dotTable = { slm_vec_dot_kernel_vnni_emulated($0) }
            batchTable = { slm_vec_dot_kernel_vnni_emulated_for_batch($0, $1, $2) }
        }
        guard dotTable(id(SLM_TYPE_Q8_0)) != nil, slm_set_x86_quant_build(buildID) == 1 else {
            throw XCTSkip("CPU lacks \(what) (cpuinfo flags: \(cpuinfoFlags(flags)))")
        }
        slm_set_x86_quant_build(Int32(SLM_X86_QUANT_BEST.rawValue))
        defer { slm_set_x86_quant_build(Int32(SLM_X86_QUANT_BEST.rawValue)) }

        // 1. Dots, bit for bit against AVX2, and within the twin tolerance of the generic twins.
        var random = SeededGenerator(seed: 0x7EE1_2026)
        var compared = 0
        for type in Self.quantTypes.map(id) {
            let name = String(cString: slm_type_name(type))
            let dot = try XCTUnwrap(dotTable(type), "\(what) has no \(name) dot")
            let avx2 = try XCTUnwrap(slm_vec_dot_kernel_avx2(type), name)
            let batch = batchTable(type, 8, 0)
            let avx2Batch = slm_vec_dot_kernel_avx2_for_batch(type, 8, 0)
            XCTAssertEqual(batch == nil, avx2Batch == nil, "\(what) \(name): batch orders")
            let actType = slm_type_activation_type(type)
            for n in try XCTUnwrap(Self.dotSizes[slm_type_block_elements(type)]) {
                for kind in 0..<8 {
                    let (w, a) = quantBuildRows(type, n: n, kind: kind, &random)
                    XCTAssertEqual(a.count, slm_row_bytes(actType, Int64(n)))
                    var pairs: [(slm_vec_dot_fn, slm_vec_dot_fn, String)] = [(dot, avx2, "dot")]
                    if let batch, let avx2Batch { pairs.append((batch, avx2Batch, "batch order")) }
                    for (got, want, kernel) in pairs {
                        let (g, v) = w.withUnsafeBytes { wp in
                            a.withUnsafeBytes { ap in
                                (got(Int64(n), wp.baseAddress, ap.baseAddress), want(Int64(n), wp.baseAddress, ap.baseAddress))
                            }
                        }
                        XCTAssertEqual(g.bitPattern, v.bitPattern, "\(what) \(name) \(kernel) n=\(n) kind=\(kind): \(g), avx2 \(v)")
                        compared += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(compared, 400)
        try assertKernelsMatchGeneric(seed: 0x7EE2_2026, types: Self.quantTypes.map(id), what) { dotTable($0) }

        // 2. matvec / matmul through the build's tiles against the same through AVX2.
        for type in Self.quantTypes.map(id) {
            let name = String(cString: slm_type_name(type))
            let actType = slm_type_activation_type(type)
            let n = slm_type_block_elements(type) == 32 ? 576 : 512
            let rowBytes = slm_row_bytes(type, Int64(n))
            let actBytes = slm_row_bytes(actType, Int64(n))
            let rows = 21
            let tokens = 70
            var weights: [UInt8] = []
            for r in 0..<rows {
                if r < 4 {
                    weights += extremeWeightRow(type, n: n, max: r % 2 == 1, &random)
                } else {
                    weights += randomWeightRow(type, n: n, &random)
                }
            }
            var acts: [UInt8] = []
            for t in 0..<tokens {
                var x = [Float](repeating: t % 2 == 0 ? 1 : -1, count: n)  // +-127 in every block
                if t >= 4 { for i in 0..<n { x[i] = Float(uniform(-1, 1, &random)) } }
                acts += quantize(actType, x)
            }
            var outs: [[Float]] = []
            for b in [Int32(SLM_X86_QUANT_AVX2.rawValue), buildID] {
                XCTAssertEqual(slm_set_x86_quant_build(b), 1)
                var out = [Float](repeating: .nan, count: rows * (tokens + 1))
                weights.withUnsafeBytes { w in
                    acts.withUnsafeBytes { a in
                        out.withUnsafeMutableBufferPointer { o in
                            slm_matvec(
                                type, w.baseAddress, rowBytes, Int64(n), a.baseAddress, o.baseAddress! + rows * tokens, 1, Int64(rows))
                            for (first, count) in [(0, 64), (64, 5), (69, 1)] {
                                slm_matmul_in_batch(
                                    type, w.baseAddress, rowBytes, Int64(n), a.baseAddress! + first * actBytes, actBytes,
                                    Int64(count), Int64(tokens), Int64(first), o.baseAddress! + first * rows, Int64(rows), 1,
                                    Int64(rows))
                            }
                        }
                    }
                }
                outs.append(out)
            }
            assertSameBits(outs[1], outs[0], "\(what) \(name) matvec + matmul vs avx2")
        }

        // 3. The build's tiles against its own dots (the tests above, with the dispatch forced).
        XCTAssertEqual(slm_set_x86_quant_build(buildID), 1)
        XCTAssertEqual(slm_x86_quant_build(), buildID)
        try testMatmulTilesEqualPairByPairDotsBitForBit()
        try testMatvecTilesEqualDotsBitForBit()
        try testQ4_0TilesAtExtremeBlockSums()
        try testKQuantTilesEqualTheirBatchDotsBitForBit()
        try testChunksOfABatchEqualTheWholeBatchBitForBit()
        try testMatvecAndMatmulOddShapesMatchGeneric()
    }

    /// Rows for the build comparison: kind 0, 1 random; 2...5 extreme weights (all-min quants for
    /// even kinds, all-max for odd) times activations all +127 (kinds 2, 3) or -127 (4, 5); 6, 7
    /// random / all-max weights times activation bytes drawn at random, -128 included.
    private func quantBuildRows(_ type: Int32, n: Int, kind: Int, _ random: inout SeededGenerator) -> ([UInt8], [UInt8]) {
        let actType = slm_type_activation_type(type)
        switch kind {
        case 0, 1:
            return randomDotRows(type, n: n, uniformScale: kind == 0, &random)
        case 2...5:
            return (
                extremeWeightRow(type, n: n, max: kind % 2 == 1, &random),
                quantize(actType, [Float](repeating: kind < 4 ? 1 : -1, count: n))
            )
        default:
            let w = kind == 6 ? randomWeightRow(type, n: n, &random) : extremeWeightRow(type, n: n, max: true, &random)
            var a = quantize(actType, [Float](repeating: 1, count: n))
            // The quant bytes of each activation block: after d (Q8_0), d and s (Q8_1), the float d (Q8_K).
            let (blockBytes, qsAt, count) =
                actType == id(SLM_TYPE_Q8_K)
                ? (Int(slm_type_block_bytes(actType)), 4, 256)
                : actType == id(SLM_TYPE_Q8_1) ? (36, 4, 32) : (34, 2, 32)
            for base in stride(from: 0, to: a.count, by: blockBytes) {
                for j in 0..<count { a[base + qsAt + j] = UInt8(truncatingIfNeeded: random.next()) }
            }
            return (w, a)
        }
    }

    /// A weight row whose quants are all at their largest (all bytes 0xFF: nibbles 15, 5-bit 31,
    /// 6-bit 63; Q8_0 +127) or all at their smallest (0; Q8_0 -127), with valid scales.
    private func extremeWeightRow(_ type: Int32, n: Int, max: Bool, _ random: inout SeededGenerator) -> [UInt8] {
        if type == id(SLM_TYPE_Q8_0) { return quantize(type, [Float](repeating: max ? 1 : -1, count: n)) }
        var row = randomWeightRow(type, n: n, &random)
        let blockBytes = Int(slm_type_block_bytes(type))
        // The quant bytes of each block (after / before its scale fields).
        let quants: Range<Int>
        switch type {
        case id(SLM_TYPE_Q4_0): quants = 2..<18
        case id(SLM_TYPE_Q4_1): quants = 4..<20
        case id(SLM_TYPE_Q5_0): quants = 2..<22
        case id(SLM_TYPE_Q5_1): quants = 4..<24
        case id(SLM_TYPE_Q4_K), id(SLM_TYPE_Q5_K): quants = 16..<blockBytes
        default: quants = 0..<192  // Q6_K: ql, qh
        }
        for base in stride(from: 0, to: row.count, by: blockBytes) {
            for j in quants { row[base + j] = max ? 0xFF : 0 }
        }
        return row
    }

    /// A weight row and a matching activation row (quantized to the type's activation format).
    /// Activation blocks vary in magnitude over two decades, except with `uniformScale`.
    private func randomDotRows(
        _ type: Int32, n: Int, uniformScale: Bool,
        _ random: inout SeededGenerator
    ) -> ([UInt8], [UInt8]) {
        let weights = randomWeightRow(type, n: n, &random)
        var x = [Float](repeating: 0, count: n)
        var magnitude: Float = 1
        for i in 0..<n {
            if i % 32 == 0 && !uniformScale { magnitude = blockMagnitude(&random) }
            x[i] = Float(uniform(-1, 1, &random)) * magnitude
        }
        return (weights, quantize(slm_type_activation_type(type), x))
    }

    /// Float terms whose summation order differs between the twins: one per element (float rows),
    /// per block (32-element blocks), per super-block and lane of the generic K-quant kernels.
    private func floatTerms(type: Int32, n: Int) -> Double {
        switch slm_type_block_elements(type) {
        case 1: return Double(n)
        case 256: return 8 * Double(n / 256) + 2
        default: return Double(n / 32) + 1
        }
    }

    private func dotTolerance(type: Int32, n: Int, bound: Double) -> Double {
        Self.dotTwinRoundingSigmas * 0x1p-24 * floatTerms(type: type, n: n).squareRoot() * bound
    }

    /// One valid weight row: the float types and Q8_0 from random floats; the other quantized
    /// types built block by block from random bytes and plausible fp16 scales (d over two decades,
    /// signed where the format allows; Q4_1's min between -15 d and 0, the range a quantizer
    /// produces; K-quant super-block scales small enough for 6-bit sub-scales).
    private func randomWeightRow(_ type: Int32, n: Int, _ random: inout SeededGenerator) -> [UInt8] {
        let blockBytes = Int(slm_type_block_bytes(type))
        let blocks = n / Int(slm_type_block_elements(type))
        var bytes = [UInt8](repeating: 0, count: slm_row_bytes(type, Int64(n)))
        func randomBytes(_ at: Int, _ count: Int) {
            for j in 0..<count { bytes[at + j] = UInt8(truncatingIfNeeded: random.next()) }
        }
        switch type {
        case id(SLM_TYPE_Q8_0), id(SLM_TYPE_F32), id(SLM_TYPE_F16), id(SLM_TYPE_BF16):
            var x = [Float](repeating: 0, count: n)
            var magnitude: Float = 1
            for i in 0..<n {
                if i % 32 == 0 { magnitude = blockMagnitude(&random) }
                x[i] = Float(uniform(-1, 1, &random)) * magnitude
            }
            return quantize(type, x)
        case id(SLM_TYPE_Q4_0):
            for b in 0..<blocks {
                let base = b * blockBytes
                let d = Float(uniform(0.002, 0.2, &random)) * (random.next() & 1 == 0 ? 1 : -1)
                putHalf(&bytes, base, d)
                randomBytes(base + 2, 16)
            }
        case id(SLM_TYPE_Q4_1):
            for b in 0..<blocks {
                let base = b * blockBytes
                let d = Float(uniform(0.002, 0.2, &random))
                putHalf(&bytes, base, d)
                putHalf(&bytes, base + 2, -d * Float(uniform(0, 15, &random)))
                randomBytes(base + 4, 16)
            }
        case id(SLM_TYPE_Q5_0), id(SLM_TYPE_Q5_1):
            let hasMin = type == id(SLM_TYPE_Q5_1)
            let qhAt = hasMin ? 4 : 2
            for b in 0..<blocks {
                let base = b * blockBytes
                let d = Float(uniform(0.002, 0.2, &random)) * (hasMin || random.next() & 1 == 0 ? 1 : -1)
                putHalf(&bytes, base, d)
                if hasMin { putHalf(&bytes, base + 2, -d * Float(uniform(0, 31, &random))) }
                randomBytes(base + qhAt, 4 + 16)
            }
        case id(SLM_TYPE_Q4_K), id(SLM_TYPE_Q5_K):
            // d, dmin, then 12 bytes of packed 6-bit scales and mins, then (Q5_K) qh and qs.
            for b in 0..<blocks {
                let base = b * blockBytes
                let d = Float(uniform(0.002, 0.2, &random)) / 50
                putHalf(&bytes, base, d)
                putHalf(&bytes, base + 2, d * Float(uniform(0, 1, &random)))
                randomBytes(base + 4, blockBytes - 4)
            }
        case id(SLM_TYPE_Q6_K):
            // ql, qh, 16 signed scales, then d at the end.
            for b in 0..<blocks {
                let base = b * blockBytes
                randomBytes(base, blockBytes - 2)
                putHalf(&bytes, base + blockBytes - 2, Float(uniform(0.002, 0.2, &random)) / 100 * (random.next() & 1 == 0 ? 1 : -1))
            }
        default:
            XCTFail("no generator for type \(type)")
        }
        return bytes
    }

    /// B of the tolerance: sum_i |w_i a_i| over the dequantized rows. Types with a minimum
    /// (d * q + m for Q4_1 / Q5_1, d * sc * q - dmin * m for Q4_K / Q5_K) are dequantized twice,
    /// once with the min field zeroed and once with d zeroed, and both parts counted: the kernels
    /// round them as separate float terms, so the error scales with their magnitudes, not with
    /// that of their (possibly cancelling) sum.
    private func dotMagnitude(type: Int32, weights: [UInt8], activations: [UInt8], n: Int) -> Double {
        let a = dequantize(slm_type_activation_type(type), activations, n: n)
        let hasMin = [SLM_TYPE_Q4_1, SLM_TYPE_Q5_1, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K].map(id).contains(type)
        var parts = [weights]
        if hasMin {
            let blockBytes = Int(slm_type_block_bytes(type))
            var scalePart = weights
            var minPart = weights
            for base in stride(from: 0, to: weights.count, by: blockBytes) {
                scalePart[base + 2] = 0
                scalePart[base + 3] = 0  // min (or dmin) = 0
                minPart[base] = 0
                minPart[base + 1] = 0  // d = 0
            }
            parts = [scalePart, minPart]
        }
        var bound = 0.0
        for part in parts {
            let w = dequantize(type, part, n: n)
            for i in 0..<n { bound += abs(Double(w[i]) * Double(a[i])) }
        }
        return bound
    }

    // MARK: - 2. SwiGLU

    func testSwiGLUMatchesGenericBitForBit() {
        var random = SeededGenerator(seed: 0x5_1_1_0)
        for n in [1, 7, 8, 9, 15, 16, 31, 257, 1001] {
            let gate = (0..<n).map { _ in Float(uniform(-30, 30, &random)) }
            let up = (0..<n).map { _ in Float(uniform(-2, 2, &random)) }
            assertSwiGLUTwins(gate: gate, up: up, "random n=\(n)")
        }

        // Edge cases, each placed both in the 8-wide body and in the scalar tail: every shift
        // 0..<8 of random prefix moves them across lanes and across the body/tail boundary.
        let edges: [Float] = [
            0, -0.0, 1e-30, -1e-30, .leastNonzeroMagnitude, 88, -88, 100, -100, 1000, -1000,
            87.3, -87.3, 87.4, -87.4,  // |round(x log2 e)| crosses 126: the exp's slow path
            133, -133, 133.2, -133.2,  // crosses 192: the exp saturates
            .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity, .nan,
        ]
        for shift in 0..<8 {
            let gate = (0..<shift).map { _ in Float(uniform(-30, 30, &random)) } + edges
            let up = (0..<gate.count).map { _ in Float(uniform(0.5, 2, &random)) * (random.next() & 1 == 0 ? 1 : -1) }
            let out = assertSwiGLUTwins(gate: gate, up: up, "edges shift=\(shift)")
            for (i, x) in gate.enumerated() where i >= shift {
                let what = "swiglu(\(x)) * \(up[i]) = \(out[i])"
                if x.isNaN {
                    XCTAssertTrue(out[i].isNaN, what)
                } else if x == .infinity {
                    XCTAssertEqual(out[i], up[i] * .infinity, what)
                } else if x.isFinite && x <= -100 {
                    XCTAssertEqual(out[i], 0, what)  // e^-x overflows: x / inf = -0
                } else if abs(x) <= 1000 {
                    XCTAssertTrue(out[i].isFinite, what)
                }
            }
        }
    }

    func testSwiGLUMatchesDoubleReference() {
        var random = SeededGenerator(seed: 0x5_1_1_1)
        let fixed: [Float] = [0, -0.0, 1e-20, -1e-20, 0.5, -0.5, 1, -1, 20, -20, 79.9, -79.9]
        let n = 4003
        let gate = fixed + (0..<(n - fixed.count)).map { _ in Float(uniform(-80, 80, &random)) }
        // |up| >= 0.1 keeps the product (>= 1e-35 at x = -80) a normal float.
        let up = (0..<n).map { _ in Float(uniform(0.1, 3, &random)) * (random.next() & 1 == 0 ? 1 : -1) }
        var out = [Float](repeating: .nan, count: n)
        slm_swiglu(gate, up, &out, Int64(n))
        var worst = 0.0
        for i in 0..<n {
            let x = Double(gate[i])
            let exact = x / (1 + exp(-x)) * Double(up[i])
            let what = "swiglu(\(gate[i])) * \(up[i]): got \(out[i]), exact \(exact)"
            if exact == 0 {
                XCTAssertEqual(out[i], 0, what)
                continue
            }
            let rel = abs(Double(out[i]) - exact) / abs(exact)
            worst = max(worst, rel)
            XCTAssertLessThanOrEqual(rel, Self.swigluReferenceRelativeTolerance, what)
        }
        XCTAssertLessThanOrEqual(worst, Self.swigluReferenceRelativeTolerance)
    }

    /// slm_swiglu (SIMD where available) and slm_swiglu_generic agree bit for bit (NaN == NaN),
    /// and the documented aliasing out == gate gives the same bits. Returns the output.
    @discardableResult
    private func assertSwiGLUTwins(gate: [Float], up: [Float], _ what: String) -> [Float] {
        let n = gate.count
        var simd = [Float](repeating: 12345, count: n)
        var generic = [Float](repeating: -12345, count: n)
        slm_swiglu(gate, up, &simd, Int64(n))
        slm_swiglu_generic(gate, up, &generic, Int64(n))
        assertSameBits(simd, generic, "swiglu \(what)")
        let aliased = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { aliased.deallocate() }
        _ = aliased.initialize(from: gate)
        slm_swiglu(aliased.baseAddress, up, aliased.baseAddress, Int64(n))
        assertSameBits(Array(aliased), simd, "swiglu aliased \(what)")
        return simd
    }

    // MARK: - 3. RoPE

    func testRopeMatchesGenericAndDoubleRotation() {
        var random = SeededGenerator(seed: 0x2_0_9_E)
        let shapes: [(heads: Int, headDim: Int, rotaryDims: Int)] = [
            (1, 64, 64), (3, 64, 64), (4, 128, 128), (2, 128, 64), (5, 64, 32), (2, 6, 6), (1, 2, 2),
        ]
        for shape in shapes {
            for position in [0, 1, 7, 300, 4095, 32767] {
                let half = shape.rotaryDims / 2
                var cosTable = [Float]()
                var sinTable = [Float]()
                for i in 0..<half {
                    let theta = Double(position) * pow(10000, -2 * Double(i) / Double(shape.rotaryDims))
                    cosTable.append(Float(cos(theta)))
                    sinTable.append(Float(sin(theta)))
                }
                let x = (0..<(shape.heads * shape.headDim)).map { _ in Float(gaussian(&random)) * 3 }
                var simd = x
                var generic = x
                slm_rope_adjacent(&simd, Int64(shape.heads), Int64(shape.headDim), Int64(shape.rotaryDims), cosTable, sinTable)
                slm_rope_adjacent_generic(&generic, Int64(shape.heads), Int64(shape.headDim), Int64(shape.rotaryDims), cosTable, sinTable)
                let what = "rope heads=\(shape.heads) head_dim=\(shape.headDim) rotary=\(shape.rotaryDims) pos=\(position)"
                assertSameBits(simd, generic, what)
                for h in 0..<shape.heads {
                    let v = h * shape.headDim
                    for i in 0..<half {
                        let x0 = Double(x[v + 2 * i])
                        let x1 = Double(x[v + 2 * i + 1])
                        let c = Double(cosTable[i])
                        let s = Double(sinTable[i])
                        let limit = Self.ropeReferenceTolerance * (abs(x0) + abs(x1))
                        XCTAssertLessThanOrEqual(abs(Double(simd[v + 2 * i]) - (x0 * c - x1 * s)), limit, "\(what) h=\(h) i=\(i)")
                        XCTAssertLessThanOrEqual(abs(Double(simd[v + 2 * i + 1]) - (x0 * s + x1 * c)), limit, "\(what) h=\(h) i=\(i)")
                    }
                    // Dimensions past rotary_dims are not touched.
                    for d in shape.rotaryDims..<shape.headDim {
                        XCTAssertEqual(simd[v + d].bitPattern, x[v + d].bitPattern, "\(what) h=\(h) d=\(d)")
                    }
                }
            }
        }
    }

    // MARK: - 4. Attention over an F16 cache

    /// 64 and 128 are the usual head sizes; 80 is not a multiple of 32, which takes the
    /// dispatcher's portable fallback and the Q·K tail loop.
    static let attentionHeadDims = [64, 128, 80]
    static let attentionPositions = [1, 7, 64, 65, 300]

    func testAttentionHeadMatchesGenericAndDoubleReference() {
        var random = SeededGenerator(seed: 0xA77E_0001)
        let modes: [(Int32, String, Double)] = [
            (Int32(SLM_ATTENTION_F32), "F32", Self.attentionF32Tolerance),
            (Int32(SLM_ATTENTION_F16_ACCUMULATE), "F16", Self.attentionF16Tolerance),
        ]
        var cases = 0
        for headDim in Self.attentionHeadDims {
            for positions in Self.attentionPositions {
                let cache = KVCache(headDim: headDim, positions: positions, &random)
                let query = (0..<headDim).map { _ in Float(gaussian(&random)) }
                let scale = 1 / Float(headDim).squareRoot()
                for (mode, modeName, tolerance) in modes {
                    let what = "attention \(modeName) head_dim=\(headDim) n=\(positions)"
                    let simd = cache.head(slm_attention_head, query: query, scale: scale, mode: mode, what)
                    let generic = cache.head(slm_attention_head_generic, query: query, scale: scale, mode: mode, what)
                    assertSameBits(simd, generic, what)
                    // The F16 mode rounds the query to F16 by design: so does its reference.
                    let q = mode == Int32(SLM_ATTENTION_F16_ACCUMULATE) ? query.map(roundToHalf) : query
                    let reference = cache.reference(query: q, scale: scale)
                    for d in 0..<headDim {
                        XCTAssertEqual(Double(simd[d]), reference[d], accuracy: tolerance, "\(what) d=\(d)")
                    }
                    cases += 1
                }
            }
        }
        XCTAssertEqual(cases, 2 * Self.attentionHeadDims.count * Self.attentionPositions.count)
    }

    /// Prompt batches transpose the keys once and run every query against them: that must give
    /// exactly the F32-mode result of slm_attention_head, SIMD and generic alike.
    func testTransposedF32AttentionMatchesHeadBitForBit() {
        var random = SeededGenerator(seed: 0xA77E_0003)
        for headDim in Self.attentionHeadDims {
            for positions in Self.attentionPositions {
                let cache = KVCache(headDim: headDim, positions: positions, &random)
                let query = (0..<headDim).map { _ in Float(gaussian(&random)) }
                let scale = 1 / Float(headDim).squareRoot()
                let what = "transposed F32 head_dim=\(headDim) n=\(positions)"
                let want = cache.head(slm_attention_head, query: query, scale: scale, mode: Int32(SLM_ATTENTION_F32), what)
                let simd = cache.transposed(slm_attention_head_f32_transposed, query: query, scale: scale)
                let generic = cache.transposed(slm_attention_head_f32_transposed_generic, query: query, scale: scale)
                assertSameBits(simd, want, what)
                assertSameBits(generic, want, what + " (generic)")
            }
        }
    }

    // MARK: - 5. Split attention

    func testSplitAttentionMatchesWholeHead() {
        var random = SeededGenerator(seed: 0xA77E_0002)
        let f16 = Int32(SLM_ATTENTION_F16_ACCUMULATE)
        for headDim in Self.attentionHeadDims {
            for positions in Self.attentionPositions {
                let cache = KVCache(headDim: headDim, positions: positions, &random)
                let query = (0..<headDim).map { _ in Float(gaussian(&random)) }
                let scale = 1 / Float(headDim).squareRoot()
                let whole = cache.head(slm_attention_head, query: query, scale: scale, mode: f16, "whole")
                let reference = cache.reference(query: query.map(roundToHalf), scale: scale)
                // Thirds, and an uneven random cut.
                let cutA = Int(random.next() % UInt64(positions + 1))
                let cutB = cutA + Int(random.next() % UInt64(positions - cutA + 1))
                for (a, b) in [(positions / 3, 2 * positions / 3), (cutA, cutB)] {
                    let what = "split head_dim=\(headDim) n=\(positions) [0,\(a)) [\(a),\(b)) [\(b),\(positions))"
                    let slices = [(0, a), (a, b), (b, positions)]
                    let partials = slices.map { cache.partial(slm_attention_partial, query: query, scale: scale, $0.0, $0.1, what) }
                    for (slice, p) in zip(slices, partials) {
                        let generic = cache.partial(slm_attention_partial_generic, query: query, scale: scale, slice.0, slice.1, what)
                        assertSameBits(p, generic, "\(what) partial twin \(slice)")
                    }
                    let merged = merge(slm_attention_merge, partials, headDim: headDim)
                    assertSameBits(merged, merge(slm_attention_merge_generic, partials, headDim: headDim), "\(what) merge twin")
                    for d in 0..<headDim {
                        XCTAssertEqual(Double(merged[d]), Double(whole[d]), accuracy: Self.splitTolerance, "\(what) d=\(d)")
                        XCTAssertEqual(Double(merged[d]), reference[d], accuracy: Self.attentionF16Tolerance, "\(what) d=\(d) vs Double")
                    }
                }

                // Empty slices (begin == end) contribute nothing, wherever they sit.
                let cut = positions / 2
                let left = cache.partial(slm_attention_partial, query: query, scale: scale, 0, cut, "left")
                let right = cache.partial(slm_attention_partial, query: query, scale: scale, cut, positions, "right")
                let two = merge(slm_attention_merge, [left, right], headDim: headDim)
                for at in [0, cut, positions] {
                    let empty = cache.partial(slm_attention_partial, query: query, scale: scale, at, at, "empty")
                    XCTAssertEqual(empty[1], 0, "empty slice at \(at) has weight sum 0")
                    let what = "empty slice [\(at),\(at)) head_dim=\(headDim) n=\(positions)"
                    assertSameBits(merge(slm_attention_merge, [empty, left, right], headDim: headDim), two, "\(what) first")
                    assertSameBits(merge(slm_attention_merge, [left, empty, right], headDim: headDim), two, "\(what) middle")
                    assertSameBits(merge(slm_attention_merge, [left, right, empty], headDim: headDim), two, "\(what) last")
                }

                // One slice over everything is exactly slm_attention_head in the F16 mode.
                let full = cache.partial(slm_attention_partial, query: query, scale: scale, 0, positions, "full")
                assertSameBits(
                    merge(slm_attention_merge, [full], headDim: headDim), whole,
                    "single full slice head_dim=\(headDim) n=\(positions)")
            }
        }
    }

    private func merge(
        _ fn: (UnsafePointer<Float>?, Int64, Int64, UnsafeMutablePointer<Float>?) -> Void,
        _ partials: [[Float]], headDim: Int
    ) -> [Float] {
        let flat = partials.flatMap { $0 }
        XCTAssertEqual(flat.count, partials.count * (2 + headDim))
        var out = [Float](repeating: .nan, count: headDim)
        fn(flat, Int64(partials.count), Int64(headDim), &out)
        return out
    }

    // MARK: - 6. Dispatch

    func testForceGenericSelectsScalarTwins() {
        let types = [
            SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_BF16, SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0,
            SLM_TYPE_Q5_1, SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K,
        ].map(id)
        slm_set_force_generic(1)
        for t in types {
            let name = String(cString: slm_type_name(t))
            XCTAssertNotNil(address(slm_vec_dot_kernel_generic(t)), name)
            XCTAssertEqual(address(slm_vec_dot_kernel(t)), address(slm_vec_dot_kernel_generic(t)), "forced: \(name)")
        }
        slm_set_force_generic(0)
        var simdTypes = 0
        for t in types {
            let name = String(cString: slm_type_name(t))
            let expected =
                address(slm_vec_dot_kernel_avx512vnni(t)) ?? address(slm_vec_dot_kernel_avxvnni(t))
                ?? address(slm_vec_dot_kernel_avx2(t)) ?? address(slm_vec_dot_kernel_neon_dotprod(t))
                ?? address(slm_vec_dot_kernel_neon(t)) ?? address(slm_vec_dot_kernel_generic(t))
            XCTAssertEqual(address(slm_vec_dot_kernel(t)), expected, "restored: \(name)")
            if let simd = address(slm_vec_dot_kernel_avx2(t)) {
                XCTAssertNotEqual(simd, address(slm_vec_dot_kernel_generic(t)), name)
                simdTypes += 1
            }
        }
        // On an AVX2 machine the restored dispatch really is the SIMD table again, for every type.
        if slm_vec_dot_kernel_avx2(id(SLM_TYPE_Q4_0)) != nil {
            XCTAssertEqual(simdTypes, types.count)
        }
        // Unsupported types stay NULL either way.
        for force: Int32 in [1, 0] {
            slm_set_force_generic(force)
            XCTAssertNil(address(slm_vec_dot_kernel(id(SLM_TYPE_Q2_K))))
            XCTAssertNil(address(slm_vec_dot_kernel(99)))
        }
    }

    private func address(_ fn: slm_vec_dot_fn?) -> UInt? {
        fn.map { UInt(bitPattern: unsafeBitCast($0, to: UnsafeRawPointer.self)) }
    }

    // MARK: - Helpers

    private func id(_ t: slm_tensor_type) -> Int32 { Int32(t.rawValue) }

    private func quantize(_ type: Int32, _ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: slm_row_bytes(type, Int64(x.count)))
        slm_quantize_row(type, x, &out, Int64(x.count))
        return out
    }

    private func dequantize(_ type: Int32, _ bytes: [UInt8], n: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: n)
        bytes.withUnsafeBytes { slm_dequantize_row(type, $0.baseAddress, &out, Int64(n)) }
        return out
    }

    private func putHalf(_ bytes: inout [UInt8], _ at: Int, _ value: Float) {
        let h = slm_fp32_to_fp16(value)
        bytes[at] = UInt8(h & 0xff)
        bytes[at + 1] = UInt8(h >> 8)
    }

    /// Per-block magnitude spread over two decades, so blocks of very different scale are summed.
    private func blockMagnitude(_ random: inout SeededGenerator) -> Float {
        Float(pow(10, uniform(-1, 1, &random)))
    }

    private func assertSameBits(
        _ got: [Float], _ want: [Float], _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        var mismatches = 0
        for i in 0..<min(got.count, want.count) {
            let g = got[i]
            let w = want[i]
            if g.bitPattern == w.bitPattern || (g.isNaN && w.isNaN) { continue }
            mismatches += 1
            if mismatches <= 3 {
                XCTFail(
                    "\(what) [\(i)]: \(g) (0x\(String(g.bitPattern, radix: 16))) vs \(w) (0x\(String(w.bitPattern, radix: 16)))",
                    file: file, line: line)
            }
        }
        XCTAssertEqual(mismatches, 0, "\(what): elements differing in bits", file: file, line: line)
    }
}

// MARK: - Random data

private func uniform(_ low: Double, _ high: Double, _ random: inout SeededGenerator) -> Double {
    low + (high - low) * random.nextUnit()
}

/// N(0, 1) by Box-Muller.
private func gaussian(_ random: inout SeededGenerator) -> Double {
    let u1 = 1 - random.nextUnit()
    let u2 = random.nextUnit()  // u1 in (0, 1]
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
}

private func roundToHalf(_ x: Float) -> Float { slm_fp16_to_fp32(slm_fp32_to_fp16(x)) }

/// One query head's slice of an F16 KV cache, laid out the way the engine lays it out: each
/// position's row holds several heads, so the strides exceed head_dim and the slice starts at an
/// offset. Keys hold 3 heads (ours is head 1), values 4 heads (ours is head 2), so the two strides
/// also differ. Every other head is filled with F16 NaN: reading outside the slice poisons the
/// output.
private struct KVCache {
    static let keyHeads = 3, keyHead = 1
    static let valueHeads = 4, valueHead = 2
    static let nanHalf: UInt16 = 0x7e00

    let headDim: Int
    let positions: Int
    var keyStride: Int { Self.keyHeads * headDim }
    var valueStride: Int { Self.valueHeads * headDim }
    var keys: [UInt16]  // (positions, keyHeads * headDim)
    var values: [UInt16]  // (positions, valueHeads * headDim)

    init(headDim: Int, positions: Int, _ random: inout SeededGenerator) {
        self.headDim = headDim
        self.positions = positions
        keys = [UInt16](repeating: Self.nanHalf, count: positions * Self.keyHeads * headDim)
        values = [UInt16](repeating: Self.nanHalf, count: positions * Self.valueHeads * headDim)
        for p in 0..<positions {
            let k = (0..<headDim).map { _ in Float(gaussian(&random)) }
            let v = (0..<headDim).map { _ in Float(gaussian(&random)) }
            let keyAt = p * Self.keyHeads * headDim + Self.keyHead * headDim
            let valueAt = p * Self.valueHeads * headDim + Self.valueHead * headDim
            keys.withUnsafeMutableBufferPointer { slm_f32_row_to_f16(k, $0.baseAddress! + keyAt, Int64(headDim)) }
            values.withUnsafeMutableBufferPointer { slm_f32_row_to_f16(v, $0.baseAddress! + valueAt, Int64(headDim)) }
        }
    }

    func key(_ p: Int, _ d: Int) -> Double {
        Double(slm_fp16_to_fp32(keys[p * keyStride + Self.keyHead * headDim + d]))
    }

    func value(_ p: Int, _ d: Int) -> Double {
        Double(slm_fp16_to_fp32(values[p * valueStride + Self.valueHead * headDim + d]))
    }

    /// softmax(scale * K q) V in Double over the F16-rounded cache.
    func reference(query: [Float], scale: Float) -> [Double] {
        var scores = [Double](repeating: 0, count: positions)
        for p in 0..<positions {
            var s = 0.0
            for d in 0..<headDim { s += Double(query[d]) * key(p, d) }
            scores[p] = s * Double(scale)
        }
        let top = scores.max() ?? 0
        let weights = scores.map { exp($0 - top) }
        let total = weights.reduce(0, +)
        return (0..<headDim).map { d in
            (0..<positions).reduce(0.0) { $0 + weights[$1] * value($1, d) } / total
        }
    }

    typealias HeadFn = (
        UnsafePointer<Float>?, UnsafePointer<UInt16>?, Int64, UnsafePointer<UInt16>?, Int64, Int64,
        Int64, Float, Int32, UnsafeMutablePointer<Float>?, UnsafeMutableRawPointer?
    ) -> Void
    typealias PartialFn = (
        UnsafePointer<Float>?, UnsafePointer<UInt16>?, Int64, UnsafePointer<UInt16>?, Int64, Int64,
        Int64, Int64, Float, UnsafeMutablePointer<Float>?, UnsafeMutableRawPointer?
    ) -> Void

    func head(_ fn: HeadFn, query: [Float], scale: Float, mode: Int32, _ what: String) -> [Float] {
        var out = [Float](repeating: .nan, count: headDim)
        withCache { k, v, scratch in
            fn(query, k, Int64(keyStride), v, Int64(valueStride), Int64(positions), Int64(headDim), scale, mode, &out, scratch)
        }
        return out
    }

    func partial(_ fn: PartialFn, query: [Float], scale: Float, _ begin: Int, _ end: Int, _ what: String) -> [Float] {
        var out = [Float](repeating: .nan, count: 2 + headDim)
        withCache { k, v, scratch in
            fn(query, k, Int64(keyStride), v, Int64(valueStride), Int64(begin), Int64(end), Int64(headDim), scale, &out, scratch)
        }
        return out
    }

    typealias TransposedFn = (
        UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?, Int64, Int64, Int64,
        Float, UnsafeMutablePointer<Float>?, UnsafeMutableRawPointer?
    ) -> Void

    /// Transposes the keys (in two calls, as prompt chunks do) and runs `fn` over them.
    func transposed(_ fn: TransposedFn, query: [Float], scale: Float) -> [Float] {
        var out = [Float](repeating: .nan, count: headDim)
        // Stale NaNs past the last position must not leak into the result.
        var keysT = [Float](repeating: .nan, count: (positions + 63) / 64 * 64 * headDim)
        var valuesF32 = [Float](repeating: .nan, count: positions * headDim)
        withCache { k, v, scratch in
            keysT.withUnsafeMutableBufferPointer { t in
                valuesF32.withUnsafeMutableBufferPointer { wide in
                    let half = positions / 2
                    slm_attention_transpose_keys(k, Int64(keyStride), 0, Int64(half), Int64(headDim), t.baseAddress!)
                    slm_attention_transpose_keys(k, Int64(keyStride), Int64(half), Int64(positions), Int64(headDim), t.baseAddress!)
                    slm_attention_widen_values(v, Int64(valueStride), 0, Int64(half), Int64(headDim), wide.baseAddress!)
                    slm_attention_widen_values(
                        v, Int64(valueStride), Int64(half), Int64(positions), Int64(headDim),
                        wide.baseAddress!)
                    fn(
                        query, t.baseAddress!, wide.baseAddress!, Int64(headDim), Int64(positions), Int64(headDim), scale,
                        &out, scratch)
                }
            }
        }
        return out
    }

    /// Pointers to the head's slice of the cache, and exactly slm_attention_scratch_bytes of
    /// scratch followed by a guard band that must come back untouched.
    private func withCache(_ body: (UnsafePointer<UInt16>, UnsafePointer<UInt16>, UnsafeMutableRawPointer) -> Void) {
        let scratchBytes = slm_attention_scratch_bytes(Int64(headDim))
        let guardBytes = 64
        let guardByte: UInt8 = 0xA5
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes + guardBytes, alignment: 64)
        defer { scratch.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: guardByte, count: scratchBytes + guardBytes)
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                body(k.baseAddress! + Self.keyHead * headDim, v.baseAddress! + Self.valueHead * headDim, scratch)
            }
        }
        let guardBand = UnsafeRawBufferPointer(start: scratch + scratchBytes, count: guardBytes)
        XCTAssertTrue(guardBand.allSatisfy { $0 == guardByte }, "attention wrote past its \(scratchBytes) scratch bytes")
    }
}
