import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// `MemoryPlan`, the prediction `slm inspect --memory` prints and slmd's budget admits with,
/// counts what a state really allocates.
final class MemoryPlanTests: XCTestCase {
    func testThePlanCountsWhatAStateAllocates() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let plan = engine.memoryPlan(contextLength: 1024, contexts: 3)
        let state = try engine.makeState(contextLength: 1024)
        // SmolLM2-135M: 30 layers, 3 KV heads of 64, F16 keys and values.
        XCTAssertEqual(state.shape.kvBytesPerPosition(.f16), 30 * 2 * 192 * 2)
        XCTAssertEqual(plan.kvBytesPerContext, state.keys.byteCount + state.values.byteCount)
        XCTAssertEqual(state.copyRows(count: 1024).count, plan.kvBytesPerContext)
        let threads = engine.pool.effectiveCount
        let allocatedScratch =
            state.activations.byteCount + state.activationScales.byteCount + state.transposedKeys.byteCount
            + state.widenedValues.byteCount
            + threads * state.attentionScratchBytes
            + (0..<state.shape.scratchWidths.count).reduce(0) { sum, i in
                sum + Engine.promptBatch * state.shape.scratchWidths[i] * 4
            }
        XCTAssertEqual(plan.scratchBytesPerContext, allocatedScratch)
        XCTAssertEqual(plan.weightsBytes, engine.file.file.size, "SmolLM2's embedding is its output matrix: all of it is read")
        XCTAssertEqual(plan.totalBytes, plan.runtimeBytes + plan.weightsBytes + 3 * (plan.kvBytesPerContext + plan.scratchBytesPerContext))
        XCTAssertEqual(plan.modelBytes + MemoryPlan.runtimeBaselineBytes, plan.weightsBytes + plan.runtimeBytes)

        // Quantized cache types shrink the KV part only.
        let q = engine.memoryPlan(contextLength: 1024, contexts: 3, cacheTypes: KVCacheTypes(key: .q8_0, value: .q4_0))
        XCTAssertEqual(q.kvBytesPerContext, 1024 * 30 * (192 / 32 * 34 + 192 / 32 * 18))
        XCTAssertEqual(q.scratchBytesPerContext, plan.scratchBytesPerContext)
    }
}
