import XCTest
@testable import SLMCore
@testable import SLMCompute
@testable import SLMModels

final class SamplerTests: XCTestCase {
    func sample(_ logits: [Float], _ configure: (inout SamplingParameters) -> Void, draws: Int = 1) -> [Int32] {
        var p = SamplingParameters()
        configure(&p)
        var sampler = Sampler(parameters: p)
        var out: [Int32] = []
        for _ in 0..<draws {
            var copy = logits
            out.append(copy.withUnsafeMutableBufferPointer { sampler.sample(logits: $0) })
        }
        return out
    }

    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 2.9, 0.0]

    func testGreedyPicksTheLargestAndTheLowestIdOnTies() {
        XCTAssertEqual(sample(logits) { $0.temperature = 0 }, [1])
        XCTAssertEqual(sample([2, 5, 5, 1]) { $0.temperature = 0 }, [1])
    }

    func testTopKOneIsGreedyAtAnyTemperature() {
        XCTAssertEqual(Set(sample(logits, { $0.temperature = 5; $0.topK = 1; $0.seed = 3 }, draws: 50)), [1])
    }

    func testTopKAndTopPAndMinPRestrictTheCandidates() {
        // top-k 2 keeps ids 1 and 4 only.
        let k2 = Set(sample(logits, { $0.temperature = 3; $0.topK = 2; $0.topP = 1; $0.minP = 0; $0.seed = 9 }, draws: 300))
        XCTAssertEqual(k2, [1, 4])
        // min-p 0.5: p(x) ≥ 0.5 · p(top) ⇔ logit ≥ 3 + ln 0.5 ≈ 2.31: ids 1, 4, 2.
        let minP = Set(sample(logits, { $0.temperature = 3; $0.topK = 0; $0.topP = 1; $0.minP = 0.5; $0.seed = 5 }, draws: 400))
        XCTAssertEqual(minP, [1, 2, 4])
        // top-p 0.5: the two most likely (≈0.34 + 0.31) already pass 0.5.
        let topP = Set(sample(logits, { $0.temperature = 3; $0.topK = 0; $0.topP = 0.5; $0.minP = 0; $0.seed = 7 }, draws: 400))
        XCTAssertEqual(topP, [1, 4])
    }

    func testTemperatureShapesTheDistribution() {
        let cold = sample(logits, { $0.temperature = 0.01; $0.topK = 0; $0.topP = 1; $0.minP = 0; $0.seed = 1 }, draws: 200)
        XCTAssertGreaterThan(cold.filter { $0 == 1 }.count, 190)
        let hot = Set(sample(logits, { $0.temperature = 20; $0.topK = 0; $0.topP = 1; $0.minP = 0; $0.seed = 1 }, draws: 400))
        XCTAssertEqual(hot.count, logits.count, "a high temperature reaches every token")
    }

    func testSameSeedSameDraws() {
        let configure: (inout SamplingParameters) -> Void = { $0.temperature = 1.5; $0.topK = 0; $0.minP = 0; $0.seed = 42 }
        XCTAssertEqual(sample(logits, configure, draws: 100), sample(logits, configure, draws: 100))
        XCTAssertNotEqual(sample(logits, configure, draws: 100),
                          sample(logits, { $0.temperature = 1.5; $0.topK = 0; $0.minP = 0; $0.seed = 43 }, draws: 100))
    }

    func testRepetitionPenaltyPushesRecentTokensDown() {
        var p = SamplingParameters.greedy
        p.repeatPenalty = 2
        var sampler = Sampler(parameters: p)
        sampler.accept(1)
        var copy = logits
        // id 1: 3.0 / 2 = 1.5 < 2.9 (id 4).
        XCTAssertEqual(copy.withUnsafeMutableBufferPointer { sampler.sample(logits: $0) }, 4)
        // Negative logits are multiplied, moving them further down.
        var negative: [Float] = [-1, -1.5]
        var s2 = Sampler(parameters: p)
        s2.accept(0)
        XCTAssertEqual(negative.withUnsafeMutableBufferPointer { s2.sample(logits: $0) }, 1)
    }

    func testNaNLogitsAndBadParametersDoNotCrash() {
        XCTAssertEqual(sample([.nan, 1, .nan]) { $0.temperature = 1; $0.seed = 2 }, [1])
        var p = SamplingParameters()
        p.topP = 0
        XCTAssertNotNil(p.validationError())
        p = SamplingParameters()
        p.repeatPenalty = -1
        XCTAssertNotNil(p.validationError())
        XCTAssertNil(SamplingParameters().validationError())
    }
}
