import XCTest
@testable import SLMCore

/// Gemma-3-270M Q4_K_M (base model) against llama.cpp's goldens (scripts/make-goldens.sh gemma3).
final class Gemma3EndToEndTests: XCTestCase {
    /// Top-1 agreement required over the logits text, and the bound on |Δ| over each position's
    /// top-32 (as for SmolLM2).
    static let minimumTopOneAgreement = 0.99
    static let maximumLogitDifference: Float = 0.25

    static var engine: Engine?

    func loadEngine() throws -> Engine {
        if let e = Self.engine { return e }
        let e = try Engine(modelPath: try TestModels.gemma3(), threads: GoldenChecks.goldenThreads)
        Self.engine = e
        return e
    }

    func testArchitectureIsGemma3() throws {
        XCTAssertEqual(try loadEngine().model.architecture, "gemma3")
    }

    func testGreedyContinuationsMatchLlamaCpp() throws {
        try GoldenChecks.greedyContinuations(try loadEngine(), try GoldenFile.load("gemma3-270m-q4_k_m.json"),
                                             contextLength: 1024)
    }

    func testLogitsAtEveryPositionMatchLlamaCpp() throws {
        let (agreement, maxDiff) = try GoldenChecks.logitsAtEveryPosition(
            try loadEngine(), try GoldenFile.load("gemma3-270m-q4_k_m.json"))
        XCTAssertGreaterThanOrEqual(agreement, Self.minimumTopOneAgreement)
        XCTAssertLessThanOrEqual(maxDiff, Self.maximumLogitDifference)
    }
}
