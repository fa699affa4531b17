import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Gemma-3-270M Q4_K_M (base model) against llama.cpp's goldens (scripts/make-goldens.sh gemma3).
final class Gemma3EndToEndTests: XCTestCase {
    let model = RealModelGolden(modelPath: TestModels.gemma3, goldenName: "gemma3-270m-q4_k_m.json")

    func testArchitectureIsGemma3() throws {
        XCTAssertEqual(try model.engine().model.architecture, "gemma3")
    }

    func testGreedyContinuationsMatchLlamaCpp() throws { try model.checkGreedyContinuations() }

    func testLogitsAtEveryPositionMatchLlamaCpp() throws { try model.checkLogitsAtEveryPosition() }
}
