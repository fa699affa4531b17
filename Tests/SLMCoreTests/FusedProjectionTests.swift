import CSLMKernels
import XCTest

@testable import SLMCompute

/// `Ops.linearFused` and `Ops.linear` with a `prepare` step: a prompt batch is prepared and
/// quantized inside the parallel section, with the tiles' activation values computed once for the
/// first matrix's type. Every output must have the bits of a plain one-matrix `linear` over the
/// same input, also when the fused matrices differ in type but share an activation format
/// (Q4_0, Q5_0 and Q8_0 all dot with Q8_0; only Q4_0's tiles read a second table).
final class FusedProjectionTests: XCTestCase {
    private static let columns = 96
    private static let tokens = 9

    func testFusedProjectionsOfMixedTypesHaveTheBitsOfSeparateOnes() throws {
        let types: [[TensorType]] = [[.q8_0, .q4_0, .q5_0], [.q4_0, .q8_0, .q4_0], [.q4_1, .q4_1, .q4_1], [.q4_K, .q6_K, .q4_K]]
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for (set, mix) in types.enumerated() {
                let columns = mix.contains(.q4_K) || mix.contains(.q6_K) ? 256 : Self.columns
                try check(mix, columns: columns, pool: pool, seed: UInt64(100 * set + threads))
            }
        }
    }

    private func check(_ mix: [TensorType], columns: Int, pool: ThreadPool, seed: UInt64) throws {
        let tokens = Self.tokens
        // Two states, so nothing the separate calls leave in the state's buffers can stand in for
        // what the fused call must compute itself.
        let shape = StateShape(
            layers: 1, keyWidth: 8, valueWidth: 8, scratchWidths: [], maxActivationColumns: columns, heads: 1, headDim: 8)
        let state = try InferenceState(shape: shape, contextLength: 16, maxBatch: tokens)
        let fusedState = try InferenceState(shape: shape, contextLength: 16, maxBatch: tokens)
        var rng = SplitMix64(seed: seed)
        let rows = [16, 24, 8]
        let weights = mix.enumerated().map { i, type in
            matrixWith(type, rows: rows[i], columns: columns, rng: &rng)
        }
        defer { for w in weights { UnsafeMutableRawPointer(mutating: w.data).deallocate() } }
        let source = (0..<(tokens * columns)).map { _ in Float(rng.uniform()) * 4 - 2 }
        let input = UnsafeMutablePointer<Float>.allocate(capacity: tokens * columns)
        defer { input.deallocate() }

        // Separate: the input written before, one matrix per call.
        for i in source.indices { input[i] = 2 * source[i] }
        var separate: [[Float]] = []
        for w in weights {
            var out = [Float](repeating: .nan, count: tokens * w.rows)
            out.withUnsafeMutableBufferPointer { o in
                Ops.linear(
                    w, input: input, inputStride: columns, tokens: tokens, output: o.baseAddress!, outputStride: w.rows,
                    state: state, pool: pool)
            }
            separate.append(out)
        }

        // Fused, with the input written by the prepare step, token range by token range.
        input.update(repeating: .nan, count: tokens * columns)
        let covered = UnsafeMutablePointer<Int>.allocate(capacity: tokens)
        defer { covered.deallocate() }
        covered.initialize(repeating: 0, count: tokens)
        let outs = weights.map { w -> UnsafeMutablePointer<Float> in
            let o = UnsafeMutablePointer<Float>.allocate(capacity: tokens * w.rows)
            o.initialize(repeating: .nan, count: tokens * w.rows)
            return o
        }
        defer { for o in outs { o.deallocate() } }
        let targets = (0..<3).map { Ops.MatmulTarget(weight: weights[$0], output: outs[$0], outputStride: weights[$0].rows) }
        Ops.linearFused(
            targets[0], targets[1], targets[2], input: input, inputStride: columns, tokens: tokens, state: fusedState,
            pool: pool,
            prepare: { range in
                for t in range {
                    covered[t] += 1
                    for i in 0..<columns { input[t * columns + i] = 2 * source[t * columns + i] }
                }
            })
        let fused = (0..<3).map { Array(UnsafeBufferPointer(start: outs[$0], count: tokens * weights[$0].rows)) }
        XCTAssertEqual((0..<tokens).map { covered[$0] }, Array(repeating: 1, count: tokens), "\(mix)")
        for i in 0..<3 {
            XCTAssertEqual(
                fused[i].map(\.bitPattern), separate[i].map(\.bitPattern),
                "\(mix): matrix \(i) (\(mix[i])) with \(pool.effectiveCount) threads")
        }
    }

    /// A weight matrix of `type` from the generator; the caller frees `data`.
    private func matrixWith(_ type: TensorType, rows: Int, columns: Int, rng: inout SplitMix64) -> WeightMatrix {
        let rowBytes = type.rowBytes(columns)
        let data = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
        var row = [Float](repeating: 0, count: columns)
        for r in 0..<rows {
            for i in row.indices { row[i] = Float(rng.uniform()) * 2 - 1 }
            slm_quantize_row(Int32(type.rawValue), row, data + r * rowBytes, Int64(columns))
        }
        return WeightMatrix(name: "w", type: type, data: UnsafeRawPointer(data), rows: rows, columns: columns)
    }
}
