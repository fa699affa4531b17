import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// How a request fed in chunks is placed in llama.cpp's micro-batches (which decide its attention
/// accumulator and, for K-quants, the order of the matmul sums).
final class AttentionModeTests: XCTestCase {
    func testShortRequestsAccumulateInF16AndLongOnesInF32() {
        XCTAssertEqual(AttentionMode.forBatch(of: 1), .f16Accumulate)
        XCTAssertEqual(AttentionMode.forBatch(of: AttentionMode.wideBatchThreshold - 1), .f16Accumulate)
        XCTAssertEqual(AttentionMode.forBatch(of: AttentionMode.wideBatchThreshold), .f32)
    }

    func testEachTokenTakesTheModeOfItsMicroBatch() {
        let micro = AttentionMode.referenceMicroBatch
        // 512 + 10 tokens: the first micro-batch is wide, the 10-token tail is not.
        XCTAssertEqual(AttentionMode.forToken(at: 0, ofRequest: micro + 10), .f32)
        XCTAssertEqual(AttentionMode.forToken(at: micro - 1, ofRequest: micro + 10), .f32)
        XCTAssertEqual(AttentionMode.forToken(at: micro, ofRequest: micro + 10), .f16Accumulate)
    }

    func testMicroBatchPlacementFollowsTheRequestNotTheChunk() {
        let micro = AttentionMode.referenceMicroBatch
        // A 70-token request fed as 64 + 6: the 6-token chunk is tokens 64..69 of a 70-token batch.
        XCTAssertEqual(AttentionMode.microBatch(at: 64, ofRequest: 70), BatchPlacement(tokens: 70, offset: 64))
        XCTAssertEqual(AttentionMode.microBatch(at: 0, ofRequest: 70), BatchPlacement(tokens: 70, offset: 0))
        // Past the first micro-batch, offsets restart and the size is what is left (capped).
        XCTAssertEqual(
            AttentionMode.microBatch(at: micro + 64, ofRequest: micro + 100),
            BatchPlacement(tokens: 100, offset: 64))
        XCTAssertEqual(
            AttentionMode.microBatch(at: 64, ofRequest: 3 * micro),
            BatchPlacement(tokens: micro, offset: 64))
    }

    func testPrepareChunkSetsModeAndPlacementTogether() throws {
        let state = try InferenceState(
            shape: StateShape(
                layers: 1, keyWidth: 8, valueWidth: 8, scratchWidths: [], maxActivationColumns: 8,
                heads: 1, headDim: 8),
            contextLength: 16, maxBatch: 4)
        state.prepareChunk(at: 64, ofRequest: 70)
        XCTAssertEqual(state.attentionMode, .f32)
        XCTAssertEqual(state.batchPlacement, BatchPlacement(tokens: 70, offset: 64))
    }
}
