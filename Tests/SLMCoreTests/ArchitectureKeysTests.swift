import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Hyperparameter reading shared by the architecture files, and the per-layer sliding-window
/// pattern as llama.cpp derives it (hermetic: tiny GGUFs from GGUFBuilder).
final class ArchitectureKeysTests: XCTestCase {
    let dir = TemporaryDirectory()

    func keys(_ entries: [(String, GGUFValue)]) throws -> ArchitectureKeys {
        var b = GGUFBuilder()
        b.set("general.architecture", .string("gemma3"))
        for (k, v) in entries { b.set(k, v) }
        return ArchitectureKeys(file: try GGUFFile(path: dir.write(b.bytes(), name: "m.gguf")), architecture: "gemma3")
    }

    func testSlidingWindowPatternDefaultsToFiveLocalOneGlobal() throws {
        let local = try Gemma3.slidingWindowLayers(try keys([]), blocks: 13, window: 512)
        XCTAssertEqual(local.enumerated().filter { !$0.element }.map(\.offset), [5, 11])
    }

    func testSlidingWindowPatternFromPeriodAndFromBoolArray() throws {
        let period = try Gemma3.slidingWindowLayers(
            try keys([("gemma3.attention.sliding_window_pattern", .uint32(2))]), blocks: 4, window: 16)
        XCTAssertEqual(period, [true, false, true, false])
        let flags = try Gemma3.slidingWindowLayers(
            try keys([("gemma3.attention.sliding_window_pattern", .array([.bool(false), .bool(true), .bool(true)]))]),
            blocks: 3, window: 16)
        XCTAssertEqual(flags, [false, true, true])
        XCTAssertThrowsError(
            try Gemma3.slidingWindowLayers(
                try keys([("gemma3.attention.sliding_window_pattern", .array([.bool(true)]))]), blocks: 3, window: 16))
    }

    func testNoWindowMeansNoLocalLayers() throws {
        XCTAssertEqual(try Gemma3.slidingWindowLayers(try keys([]), blocks: 3, window: 0), [false, false, false])
    }

    func testHeadCountsAndRotaryDimensionsAreValidated() throws {
        let bad = try keys([("gemma3.attention.head_count", .uint32(4)), ("gemma3.attention.head_count_kv", .uint32(3))])
        XCTAssertThrowsError(try bad.headCounts()) { error in
            guard case ModelError.invalidHyperparameter(let key, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "gemma3.attention.head_count_kv")
        }
        let odd = try keys([("gemma3.rope.dimension_count", .uint32(7))])
        XCTAssertThrowsError(try odd.rotaryDimensions(headDim: 16))
        XCTAssertEqual(try keys([("gemma3.rope.dimension_count", .uint32(8))]).rotaryDimensions(headDim: 16), 8)
    }

    func testUnsupportedRopeScalingIsRefused() throws {
        let yarn = try keys([("gemma3.rope.scaling.type", .string("yarn"))])
        XCTAssertThrowsError(try yarn.linearRopeFrequencyScale()) { error in
            XCTAssertEqual(error as? ModelError, .unsupportedFeature("rope scaling 'yarn'"))
        }
        let linear = try keys([("gemma3.rope.scaling.type", .string("linear")), ("gemma3.rope.scaling.factor", .float32(8))])
        XCTAssertEqual(try linear.linearRopeFrequencyScale(), 0.125)
    }
}
