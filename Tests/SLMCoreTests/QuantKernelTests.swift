import CSLMKernels
import Foundation
import XCTest

/// Tests of the scalar C kernels (CSLMKernels) against the committed fixtures of
/// scripts/make-quant-fixtures.py (reference values from gguf-py, which mirrors ggml) and against
/// float references computed here in Double.
final class QuantKernelTests: XCTestCase {
    /// slm_dequantize_row vs gguf.quants.dequantize: expected bit-exact; this bounds the relative
    /// difference should a compiler contract a multiply-add into an FMA (e.g. on aarch64).
    static let dequantRelativeTolerance = 1e-6
    /// |vec_dot - reference| / sum_i |w_i * a_i|, the reference being the Double dot of the
    /// dequantized weight row and the dequantized activation row. Normalising by the sum of
    /// absolute products keeps the bound meaningful when the dot itself cancels to near zero.
    static let dotRelativeTolerance = 1e-4

    // MARK: - Layout and traits

    func testBlockSizesMatchGGUF() {
        XCTAssertEqual(MemoryLayout<slm_block_q4_0>.size, 18)
        XCTAssertEqual(MemoryLayout<slm_block_q4_1>.size, 20)
        XCTAssertEqual(MemoryLayout<slm_block_q5_0>.size, 22)
        XCTAssertEqual(MemoryLayout<slm_block_q5_1>.size, 24)
        XCTAssertEqual(MemoryLayout<slm_block_q8_0>.size, 34)
        XCTAssertEqual(MemoryLayout<slm_block_q8_1>.size, 36)
        XCTAssertEqual(MemoryLayout<slm_block_q2_K>.size, 84)
        XCTAssertEqual(MemoryLayout<slm_block_q3_K>.size, 110)
        XCTAssertEqual(MemoryLayout<slm_block_q4_K>.size, 144)
        XCTAssertEqual(MemoryLayout<slm_block_q5_K>.size, 176)
        XCTAssertEqual(MemoryLayout<slm_block_q6_K>.size, 210)
        XCTAssertEqual(MemoryLayout<slm_block_q8_K>.size, 292)

        let expected: [(slm_tensor_type, Int64, Int64, String)] = [
            (SLM_TYPE_F32, 1, 4, "F32"), (SLM_TYPE_F16, 1, 2, "F16"), (SLM_TYPE_BF16, 1, 2, "BF16"),
            (SLM_TYPE_Q4_0, 32, 18, "Q4_0"), (SLM_TYPE_Q4_1, 32, 20, "Q4_1"),
            (SLM_TYPE_Q5_0, 32, 22, "Q5_0"), (SLM_TYPE_Q5_1, 32, 24, "Q5_1"),
            (SLM_TYPE_Q8_0, 32, 34, "Q8_0"), (SLM_TYPE_Q8_1, 32, 36, "Q8_1"),
            (SLM_TYPE_Q2_K, 256, 84, "Q2_K"), (SLM_TYPE_Q3_K, 256, 110, "Q3_K"),
            (SLM_TYPE_Q4_K, 256, 144, "Q4_K"), (SLM_TYPE_Q5_K, 256, 176, "Q5_K"),
            (SLM_TYPE_Q6_K, 256, 210, "Q6_K"), (SLM_TYPE_Q8_K, 256, 292, "Q8_K"),
        ]
        for (type, elements, bytes, name) in expected {
            let t = id(type)
            XCTAssertEqual(slm_type_block_elements(t), elements, name)
            XCTAssertEqual(slm_type_block_bytes(t), bytes, name)
            XCTAssertEqual(String(cString: slm_type_name(t)), name)
            XCTAssertEqual(slm_row_bytes(t, 4 * elements * 256), Int(4 * 256 * bytes), name)
        }
    }

    func testTypeTraits() {
        let supported: Set<Int32> = Set(
            [
                SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_BF16, SLM_TYPE_Q4_0, SLM_TYPE_Q4_1,
                SLM_TYPE_Q5_0, SLM_TYPE_Q5_1, SLM_TYPE_Q8_0, SLM_TYPE_Q4_K,
                SLM_TYPE_Q5_K, SLM_TYPE_Q6_K,
            ].map(id))
        for t in Int32(-2)...Int32(40) {
            XCTAssertEqual(slm_type_is_supported(t) == 1, supported.contains(t), "type \(t)")
            XCTAssertEqual(slm_vec_dot_kernel(t) != nil, supported.contains(t), "type \(t)")
        }
        let activation: [(slm_tensor_type, slm_tensor_type)] = [
            (SLM_TYPE_F32, SLM_TYPE_F32), (SLM_TYPE_F16, SLM_TYPE_F16), (SLM_TYPE_BF16, SLM_TYPE_BF16),
            (SLM_TYPE_Q4_0, SLM_TYPE_Q8_0), (SLM_TYPE_Q4_1, SLM_TYPE_Q8_1), (SLM_TYPE_Q5_0, SLM_TYPE_Q8_0),
            (SLM_TYPE_Q5_1, SLM_TYPE_Q8_1), (SLM_TYPE_Q8_0, SLM_TYPE_Q8_0), (SLM_TYPE_Q4_K, SLM_TYPE_Q8_K),
            (SLM_TYPE_Q5_K, SLM_TYPE_Q8_K), (SLM_TYPE_Q6_K, SLM_TYPE_Q8_K),
        ]
        for (w, a) in activation {
            XCTAssertEqual(slm_type_activation_type(id(w)), id(a), String(cString: slm_type_name(id(w))))
        }
        XCTAssertEqual(slm_type_activation_type(id(SLM_TYPE_Q2_K)), -1)
        for unknown: Int32 in [-1, 4, 5, 16, 29, 31, 1000] {
            XCTAssertEqual(slm_type_block_elements(unknown), 0)
            XCTAssertEqual(slm_type_block_bytes(unknown), 0)
            XCTAssertEqual(slm_row_bytes(unknown, 256), 0)
            XCTAssertEqual(String(cString: slm_type_name(unknown)), "unknown")
        }
        // Unsupported or unknown types never crash: NaN out, nothing written by quantize.
        let zeros = [UInt8](repeating: 0, count: 1024)
        XCTAssertTrue(slm_vec_dot(id(SLM_TYPE_Q2_K), 256, zeros, zeros).isNaN)
        XCTAssertTrue(slm_vec_dot(99, 256, zeros, zeros).isNaN)
        var out = [Float](repeating: 0, count: 32)
        slm_dequantize_row(99, zeros, &out, 32)
        XCTAssertTrue(out.allSatisfy { $0.isNaN })
        // Q4_1 is a weight type only (Q4_0 is also a KV-cache type, so it quantizes).
        var bytes = [UInt8](repeating: 7, count: 64)
        slm_quantize_row(id(SLM_TYPE_Q4_1), [Float](repeating: 1, count: 32), &bytes, 32)
        XCTAssertTrue(bytes.allSatisfy { $0 == 7 })
    }

    // MARK: - Dequantize / quantize against gguf-py

    func testDequantizeMatchesGGUFReference() throws {
        let cases = try QuantFixtures.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 12)
        for c in cases {
            var out = [Float](repeating: .nan, count: c.n)
            c.blocks.withUnsafeBytes { slm_dequantize_row(c.type, $0.baseAddress, &out, Int64(c.n)) }
            var mismatches = 0
            for i in 0..<c.n {
                let got = out[i]
                let want = c.reference[i]
                if got.bitPattern == want.bitPattern || (got.isNaN && want.isNaN) { continue }
                let rel = Double(abs(got - want)) / max(Double(abs(want)), Double(Float.leastNormalMagnitude))
                if !(rel <= Self.dequantRelativeTolerance) {
                    mismatches += 1
                    if mismatches <= 3 { XCTFail("\(c.name)[\(i)]: got \(got), gguf \(want)") }
                }
            }
            XCTAssertEqual(mismatches, 0, c.name)
        }
    }

    func testQuantizeMatchesGGUFReference() throws {
        // F16 (numpy RNE), BF16 (ggml's rounding) and Q8_0 (quantize_row_q8_0_ref) bytes.
        let cases = try QuantFixtures.cases().filter { $0.source != nil }
        XCTAssertEqual(Set(cases.map(\.name)), ["F16", "BF16", "Q8_0_quantize"])
        for c in cases {
            var out = [UInt8](repeating: 0xAA, count: c.blocks.count)
            slm_quantize_row(c.type, c.source!, &out, Int64(c.n))
            XCTAssertEqual(out, c.blocks, c.name)
        }
    }

    // MARK: - Dot products

    func testVecDotMatchesDequantizedReferenceForEveryWeightType() throws {
        var rng = SplitMix64(seed: 0x5EED)
        var checked = 0
        for c in try QuantFixtures.cases() where c.source == nil && c.type != id(SLM_TYPE_F32) {
            // Quantized fixtures: every block has finite, realistic scales.
            for shape in ActivationShape.allCases {
                let x = shape.values(count: c.n, rng: &rng)
                checkDot(name: "\(c.name)/\(shape)", type: c.type, weights: c.blocks, n: c.n, x: x)
                checked += 1
            }
        }
        // Float weight types: rows converted here (the F16/BF16 fixtures contain infinities).
        for type in [SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_BF16].map(id) {
            for n in [16, 1000, 1024] {
                let w = (0..<n).map { _ in Float(rng.normal()) }
                let x = ActivationShape.outliers.values(count: n, rng: &rng)
                checkDot(name: "\(type)/n\(n)", type: type, weights: quantize(type, w), n: n, x: x)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 8 * ActivationShape.allCases.count + 9)
    }

    func testVecDotOfZeroActivationsIsZero() throws {
        for c in try QuantFixtures.cases() where c.source == nil && c.type != id(SLM_TYPE_F32) {
            let act = quantize(slm_type_activation_type(c.type), [Float](repeating: 0, count: c.n))
            let dot = c.blocks.withUnsafeBytes { w in
                act.withUnsafeBytes { a in
                    slm_vec_dot(c.type, Int64(c.n), w.baseAddress, a.baseAddress)
                }
            }
            XCTAssertEqual(dot, 0, c.name)
        }
    }

    /// matvec / matmul must give exactly the per-row vec_dot, write only [row_begin, row_end), and
    /// place token t's outputs at out[t * out_row_stride + r].
    func testMatvecAndMatmulEqualPerRowVecDot() throws {
        var rng = SplitMix64(seed: 42)
        for c in try QuantFixtures.cases() where c.source == nil && c.type != id(SLM_TYPE_F32) {
            let blockElements = Int(slm_type_block_elements(c.type))
            let nCols = blockElements == 256 ? 512 : 128
            let rowBytes = slm_row_bytes(c.type, Int64(nCols))
            let rows = c.n / nCols
            XCTAssertGreaterThanOrEqual(rows, 4, c.name)
            let actType = slm_type_activation_type(c.type)
            let actRowBytes = slm_row_bytes(actType, Int64(nCols))
            let nTokens = 3
            var acts = [UInt8]()
            for _ in 0..<nTokens {
                acts += quantize(actType, ActivationShape.normal.values(count: nCols, rng: &rng))
            }
            var expected = [[Float]](repeating: [Float](repeating: 0, count: rows), count: nTokens)
            c.blocks.withUnsafeBytes { w in
                acts.withUnsafeBytes { a in
                    for t in 0..<nTokens {
                        for r in 0..<rows {
                            expected[t][r] = slm_vec_dot(
                                c.type, Int64(nCols), w.baseAddress! + r * rowBytes,
                                a.baseAddress! + t * actRowBytes)
                        }
                    }
                }
            }
            let begin = 1
            let end = rows - 1
            var y = [Float](repeating: -7, count: rows)
            let stride = rows + 3
            var out = [Float](repeating: -7, count: nTokens * stride)
            c.blocks.withUnsafeBytes { w in
                acts.withUnsafeBytes { a in
                    slm_matvec(
                        c.type, w.baseAddress, rowBytes, Int64(nCols), a.baseAddress! + actRowBytes, &y,
                        Int64(begin), Int64(end))
                    slm_matmul(
                        c.type, w.baseAddress, rowBytes, Int64(nCols), a.baseAddress, actRowBytes,
                        Int64(nTokens), &out, Int64(stride), Int64(begin), Int64(end))
                }
            }
            for r in 0..<rows {
                let inside = r >= begin && r < end
                XCTAssertEqual(
                    y[r].bitPattern, inside ? expected[1][r].bitPattern : Float(-7).bitPattern,
                    "\(c.name) matvec row \(r)")
            }
            for t in 0..<nTokens {
                for j in 0..<stride {
                    let inside = j >= begin && j < end
                    let want = inside ? expected[t][j] : -7
                    XCTAssertEqual(out[t * stride + j].bitPattern, want.bitPattern, "\(c.name) matmul t\(t) col \(j)")
                }
            }
        }
    }

    // MARK: - Activation quantizers

    func testQ8_0AndQ8_1RoundTripBounds() {
        var rng = SplitMix64(seed: 7)
        let n = 32 * 64
        for shape in ActivationShape.allCases {
            let x = shape.values(count: n, rng: &rng)
            for type in [SLM_TYPE_Q8_0, SLM_TYPE_Q8_1].map(id) {
                let q = quantize(type, x)
                let back = dequantize(type, q, n: n)
                let blockBytes = Int(slm_type_block_bytes(type))
                for b in 0..<(n / 32) {
                    let block = x[(32 * b)..<(32 * b + 32)]
                    let amax = block.map { abs($0) }.max()!
                    let d = amax / 127
                    // q * fp16(d) vs x: half a step for rounding plus 127 steps' worth of the fp16
                    // rounding of d (relative 2^-11).
                    let bound = Double(d) * (0.5 + 127.0 / 2048.0 + 1e-4)
                    for i in (32 * b)..<(32 * b + 32) {
                        XCTAssertLessThanOrEqual(Double(abs(back[i] - x[i])), bound, "\(shape) type \(type) [\(i)]")
                    }
                    let qs = (0..<32).map { Int(Int8(bitPattern: q[b * blockBytes + (type == id(SLM_TYPE_Q8_1) ? 4 : 2) + $0])) }
                    XCTAssertLessThanOrEqual(qs.map { abs($0) }.max()!, 127)
                    if amax > 0 { XCTAssertEqual(qs.map { abs($0) }.max()!, 127, "\(shape) block \(b)") }
                    if type == id(SLM_TYPE_Q8_1) {
                        let s = slm_fp16_to_fp32(UInt16(q[b * blockBytes + 2]) | UInt16(q[b * blockBytes + 3]) << 8)
                        let exact = Double(qs.reduce(0, +)) * Double(d)
                        XCTAssertLessThanOrEqual(abs(Double(s) - exact), abs(exact) * (1.0 / 2048 + 1e-6) + 0x1p-25, "Q8_1 s, block \(b)")
                    }
                }
            }
        }
    }

    func testQ8_KRoundTripBoundsAndBsums() {
        var rng = SplitMix64(seed: 11)
        let n = 256 * 8
        for shape in ActivationShape.allCases {
            let x = shape.values(count: n, rng: &rng)
            let q = quantize(id(SLM_TYPE_Q8_K), x)
            let back = dequantize(id(SLM_TYPE_Q8_K), q, n: n)
            q.withUnsafeBytes { raw in
                let blocks = raw.bindMemory(to: slm_block_q8_K.self)
                for b in 0..<(n / 256) {
                    var block = blocks[b]
                    let qs = withUnsafeBytes(of: &block.qs) { Array($0.bindMemory(to: Int8.self)) }
                    let bsums = withUnsafeBytes(of: &block.bsums) { Array($0.bindMemory(to: Int16.self)) }
                    for g in 0..<16 {
                        XCTAssertEqual(Int(bsums[g]), qs[(16 * g)..<(16 * g + 16)].reduce(0) { $0 + Int($1) })
                    }
                    let amax = x[(256 * b)..<(256 * b + 256)].map { abs($0) }.max()!
                    if amax == 0 {
                        XCTAssertEqual(block.d, 0)
                        XCTAssertTrue(qs.allSatisfy { $0 == 0 })
                        continue
                    }
                    XCTAssertEqual(abs(Double(block.d)), Double(amax) / 127, accuracy: Double(amax) / 127 * 1e-6)
                    XCTAssertTrue(qs.contains(-127), "the largest magnitude maps to -127")
                    for i in (256 * b)..<(256 * b + 256) {
                        XCTAssertLessThanOrEqual(Double(abs(back[i] - x[i])), Double(abs(block.d)) * (0.5 + 1e-4))
                    }
                }
            }
        }
    }

    func testActivationRoundingModes() {
        // amax = 127 gives d = 1 exactly: Q8_0 rounds half to even, as the vectorised quantizers
        // llama.cpp runs do (its scalar reference rounds half away from zero) ...
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127
        x[1] = 2.5
        x[2] = -2.5
        x[3] = 0.5
        x[4] = -0.5
        x[5] = 3.5
        x[6] = 1.4999999
        let q80 = quantize(id(SLM_TYPE_Q8_0), x)
        XCTAssertEqual(slm_fp16_to_fp32(UInt16(q80[0]) | UInt16(q80[1]) << 8), 1)
        XCTAssertEqual(q80[2..<9].map { Int8(bitPattern: $0) }, [127, 2, -2, 0, 0, 4, 1])
        // ... and so does Q8_K, with the scale negative when the extreme value is positive.
        var xk = [Float](repeating: 0, count: 256)
        xk[0] = 127
        xk[1] = 2.5
        xk[2] = -2.5
        xk[3] = 0.5
        xk[4] = 3.5
        xk[5] = -1.5
        let q8k = quantize(id(SLM_TYPE_Q8_K), xk)
        let d = q8k.withUnsafeBytes { $0.load(as: Float.self) }
        XCTAssertEqual(d, -1)
        XCTAssertEqual(q8k[4..<10].map { Int8(bitPattern: $0) }, [-127, -2, 2, 0, -4, 2])
    }

    // MARK: - fp16 / bf16

    func testFP16ToFP32Exhaustive() {
        for h in 0...UInt16.max {
            let got = slm_fp16_to_fp32(h)
            let mag = h & 0x7fff
            if mag > 0x7c00 {
                // NaN: payload moved up, nothing else changed.
                let want = UInt32(h & 0x8000) << 16 | 0x7f80_0000 | UInt32(h & 0x3ff) << 13
                XCTAssertEqual(got.bitPattern, want, "h=\(h)")
                continue
            }
            let sign: Float = h & 0x8000 != 0 ? -1 : 1
            let e = Int(mag >> 10)
            let m = Float(mag & 0x3ff)
            let want: Float =
                e == 31
                ? sign * .infinity
                : e == 0
                    ? sign * m * 0x1p-24
                    : sign * (1 + m / 1024) * Float(sign: .plus, exponent: e - 15, significand: 1)
            XCTAssertEqual(got.bitPattern, want.bitPattern, "h=\(h)")
        }
        var row = [Float](repeating: 0, count: 65536)
        let all = (0...UInt16.max).map { $0 }
        slm_f16_row_to_f32(all, &row, 65536)
        // The row helper may use hardware conversion (aarch64), which quiets signalling NaNs.
        for h in all where row[Int(h)].bitPattern != slm_fp16_to_fp32(h).bitPattern && !row[Int(h)].isNaN {
            XCTFail("row conversion differs at \(h)")
            break
        }
        XCTAssertEqual(row.filter(\.isNaN).count, 2 * 1023)
    }

    func testFP32ToFP16RoundsToNearestEven() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3c00), (-2, 0xc000),
            (65504, 0x7bff), (65519.996, 0x7bff), (65520, 0x7c00), (1e10, 0x7c00), (-1e10, 0xfc00),
            (.infinity, 0x7c00), (-.infinity, 0xfc00),
            (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1.000002p-25, 0x0001), (0x1.8p-24, 0x0002),
            (0x1p-14, 0x0400), (0x1.ff8p-15, 0x03ff), (0x1.ffcp-15, 0x0400), (0x1.ff0p-15, 0x03fe), (1e-30, 0x0000),
            (1 + 0x1p-11, 0x3c00), (1 + 0x3p-11, 0x3c02), (Float(bitPattern: 0x3f80_1001), 0x3c01),
            (-(1 + 0x3p-11), 0xbc02), (2049, 0x6800), (2051, 0x6802),
        ]
        for (f, want) in cases {
            XCTAssertEqual(slm_fp32_to_fp16(f), want, "\(f)")
        }
        // NaN stays NaN, quiet, sign kept.
        for bits: UInt32 in [0x7fc0_0000, 0x7f80_0001, 0xffc0_1234, 0x7fbf_ffff] {
            let h = slm_fp32_to_fp16(Float(bitPattern: bits))
            XCTAssertEqual(h & 0x7e00, 0x7e00, "nan \(bits)")
            XCTAssertEqual(h & 0x8000, UInt16(bits >> 16) & 0x8000)
        }
        // Random floats across the whole range: RNE reference computed with integers.
        var rng = SplitMix64(seed: 3)
        var src = [Float]()
        var want = [UInt16]()
        for _ in 0..<200_000 {
            let bits = UInt32(truncatingIfNeeded: rng.next())
            let f = Float(bitPattern: bits)
            if f.isNaN { continue }
            src.append(f)
            want.append(referenceFP16(f))
        }
        var got = [UInt16](repeating: 0, count: src.count)
        slm_f32_row_to_f16(src, &got, Int64(src.count))
        var bad = 0
        for i in src.indices where got[i] != want[i] || slm_fp32_to_fp16(src[i]) != want[i] {
            bad += 1
            if bad <= 3 { XCTFail("fp16(\(src[i])) = \(got[i]), want \(want[i])") }
        }
        XCTAssertEqual(bad, 0)
    }

    func testBF16Conversions() {
        XCTAssertEqual(slm_bf16_to_fp32(0x3f80), 1)
        XCTAssertEqual(slm_bf16_to_fp32(0xff80), -.infinity)
        XCTAssertEqual(slm_bf16_to_fp32(0x0001).bitPattern, 0x0001_0000)  // subnormal kept
        let cases: [(UInt32, UInt16)] = [
            (0x3f80_0000, 0x3f80), (0x3f80_8000, 0x3f80),  // tie, even stays
            (0x3f81_8000, 0x3f82),  // tie, odd rounds up
            (0x3f80_8001, 0x3f81), (0x3f80_7fff, 0x3f80),
            (0x7f7f_ffff, 0x7f80),  // FLT_MAX rounds to infinity
            (0x7f80_0000, 0x7f80), (0xff80_0000, 0xff80),
            (0x0000_8000, 0x0000), (0x0001_8000, 0x0002), (0x8000_0000, 0x8000),
            (0x7f80_0001, 0x7fc0), (0xff81_2345, 0xffc1), (0x7fc0_0000, 0x7fc0),  // NaN forced quiet
        ]
        for (bits, want) in cases {
            XCTAssertEqual(slm_fp32_to_bf16(Float(bitPattern: bits)), want, String(bits, radix: 16))
        }
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

    private func checkDot(name: String, type: Int32, weights: [UInt8], n: Int, x: [Float]) {
        let actType = slm_type_activation_type(type)
        let act = quantize(actType, x)
        let w = dequantize(type, weights, n: n)
        let a = dequantize(actType, act, n: n)
        var reference = 0.0
        var scale = 0.0
        for i in 0..<n {
            reference += Double(w[i]) * Double(a[i])
            scale += abs(Double(w[i]) * Double(a[i]))
        }
        if actType == id(SLM_TYPE_Q8_1) {
            // The kernel folds the weight's per-block min in as m * s, where s is fp16(d * sum q)
            // rather than the exact d * sum q the dequantized activations sum to: account for it.
            for b in 0..<(n / 32) {
                let wBlock = b * Int(slm_type_block_bytes(type))
                let aBlock = b * 36
                let m = Double(slm_fp16_to_fp32(UInt16(weights[wBlock + 2]) | UInt16(weights[wBlock + 3]) << 8))
                let d = Double(slm_fp16_to_fp32(UInt16(act[aBlock]) | UInt16(act[aBlock + 1]) << 8))
                let s = Double(slm_fp16_to_fp32(UInt16(act[aBlock + 2]) | UInt16(act[aBlock + 3]) << 8))
                let sumQ = (0..<32).reduce(0) { $0 + Int(Int8(bitPattern: act[aBlock + 4 + $1])) }
                reference += m * (s - d * Double(sumQ))
            }
        }
        let got = weights.withUnsafeBytes { wp in
            act.withUnsafeBytes { ap in
                slm_vec_dot(type, Int64(n), wp.baseAddress, ap.baseAddress)
            }
        }
        XCTAssertTrue(got.isFinite, name)
        XCTAssertGreaterThan(scale, 0, name)
        let rel = abs(Double(got) - reference) / scale
        XCTAssertLessThanOrEqual(rel, Self.dotRelativeTolerance, "\(name): got \(got), reference \(reference)")
    }

    /// Float -> half with round-to-nearest-even, computed on the exact value in Double.
    private func referenceFP16(_ f: Float) -> UInt16 {
        let sign: UInt16 = f.sign == .minus ? 0x8000 : 0
        let a = Double(abs(f))
        if a.isInfinite || a >= 65520 { return sign | 0x7c00 }
        // Scale to units of the half's spacing at this magnitude, round half to even.
        let exponent = a < 0x1p-14 ? -14 : Int(a.exponent)
        let ulp = Double(sign: .plus, exponent: exponent - 10, significand: 1)
        let units = (a / ulp).rounded(.toNearestOrEven)  // exact: a / ulp is a power-of-two scaling
        let value = units * ulp
        if value == 0 { return sign }
        if value < 0x1p-14 { return sign | UInt16(units) }
        let e = Int(value.exponent)
        let mantissa = UInt16(value / Double(sign: .plus, exponent: e - 10, significand: 1)) - 1024
        return sign | UInt16(e + 15) << 10 | mantissa
    }
}

// MARK: - Fixtures and data

private struct QuantCase {
    let name: String
    let type: Int32
    let n: Int
    let blocks: [UInt8]
    let reference: [Float]
    let source: [Float]?
}

private enum QuantFixtures {
    struct Manifest: Decodable {
        struct Case: Decodable {
            let name: String
            let type: Int
            let n: Int
            let blocks: String
            let ref: String
            let src: String?
        }
        let cases: [Case]
    }

    static func cases() throws -> [QuantCase] {
        let manifest = try JSONDecoder().decode(Manifest.self, from: try data("manifest.json"))
        return try manifest.cases.map { c in
            QuantCase(
                name: c.name, type: Int32(c.type), n: c.n, blocks: [UInt8](try data(c.blocks)),
                reference: try floats(c.ref), source: try c.src.map(floats))
        }
    }

    static func data(_ name: String) throws -> Data {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no Fixtures in test bundle"])
        }
        return try Data(contentsOf: dir.appendingPathComponent("quant").appendingPathComponent(name))
    }

    static func floats(_ name: String) throws -> [Float] {
        let bytes = [UInt8](try data(name))
        var out = [Float](repeating: 0, count: bytes.count / 4)
        out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<dst.count])) }
        }
        return out  // little-endian host, as the kernels assume
    }
}

/// Kinds of activation rows the dot tests run against each weight type.
private enum ActivationShape: CaseIterable, CustomStringConvertible {
    case normal  // N(0, 1)
    case outliers  // N(0, 1) with a few large values, as in real hidden states
    case positive  // one-signed: the min / bsums terms carry most of the result
    case mixedScale  // per-32 magnitudes spanning 4 decades, a few blocks all zero

    var description: String {
        switch self {
        case .normal: "normal"
        case .outliers: "outliers"
        case .positive: "positive"
        case .mixedScale: "mixedScale"
        }
    }

    func values(count: Int, rng: inout SplitMix64) -> [Float] {
        (0..<count).map { i in
            let g = rng.normal()
            switch self {
            case .normal: return Float(g)
            case .outliers: return Float(i % 97 == 5 ? g * 40 : g)
            case .positive: return Float(abs(g) + 0.1)
            case .mixedScale:
                let block = i / 32
                return block % 7 == 3 ? 0 : Float(g * pow(10.0, Double(block % 5) - 2))
            }
        }
    }
}

/// Deterministic generator, so failures reproduce (also FusedProjectionTests').
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func normal() -> Double {
        let u1 = max(uniform(), 0x1p-53)
        let u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
