import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Qwen2.5-Coder-0.5B-Instruct Q4_K_M against llama.cpp's goldens (scripts/make-goldens.sh qwen25coder).
final class Qwen2EndToEndTests: XCTestCase {
    let model = RealModelGolden(modelPath: TestModels.qwen25Coder, goldenName: "qwen25coder-0.5b-q4_k_m.json")

    func testArchitectureIsQwen2() throws {
        XCTAssertEqual(try model.engine().model.architecture, "qwen2")
    }

    func testGreedyContinuationsMatchLlamaCpp() throws { try model.checkGreedyContinuations() }

    func testLogitsAtEveryPositionMatchLlamaCpp() throws { try model.checkLogitsAtEveryPosition() }
}
