import SLMJSON
import XCTest

@testable import SLMCompute
@testable import SLMCore
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
        XCTAssertEqual(
            Set(
                sample(
                    logits,
                    {
                        $0.temperature = 5
                        $0.topK = 1
                        $0.seed = 3
                    }, draws: 50)), [1])
    }

    func testTopKAndTopPAndMinPRestrictTheCandidates() {
        // top-k 2 keeps ids 1 and 4 only.
        let k2 = Set(
            sample(
                logits,
                {
                    $0.temperature = 3
                    $0.topK = 2
                    $0.topP = 1
                    $0.minP = 0
                    $0.seed = 9
                }, draws: 300))
        XCTAssertEqual(k2, [1, 4])
        // min-p 0.5: p(x) ≥ 0.5 · p(top) ⇔ logit ≥ 3 + ln 0.5 ≈ 2.31: ids 1, 4, 2.
        let minP = Set(
            sample(
                logits,
                {
                    $0.temperature = 3
                    $0.topK = 0
                    $0.topP = 1
                    $0.minP = 0.5
                    $0.seed = 5
                }, draws: 400))
        XCTAssertEqual(minP, [1, 2, 4])
        // top-p 0.5: the two most likely (≈0.34 + 0.31) already pass 0.5.
        let topP = Set(
            sample(
                logits,
                {
                    $0.temperature = 3
                    $0.topK = 0
                    $0.topP = 0.5
                    $0.minP = 0
                    $0.seed = 7
                }, draws: 400))
        XCTAssertEqual(topP, [1, 4])
    }

    func testTemperatureShapesTheDistribution() {
        let cold = sample(
            logits,
            {
                $0.temperature = 0.01
                $0.topK = 0
                $0.topP = 1
                $0.minP = 0
                $0.seed = 1
            }, draws: 200)
        XCTAssertGreaterThan(cold.filter { $0 == 1 }.count, 190)
        let hot = Set(
            sample(
                logits,
                {
                    $0.temperature = 20
                    $0.topK = 0
                    $0.topP = 1
                    $0.minP = 0
                    $0.seed = 1
                }, draws: 400))
        XCTAssertEqual(hot.count, logits.count, "a high temperature reaches every token")
    }

    func testSameSeedSameDraws() {
        let configure: (inout SamplingParameters) -> Void = {
            $0.temperature = 1.5
            $0.topK = 0
            $0.minP = 0
            $0.seed = 42
        }
        XCTAssertEqual(sample(logits, configure, draws: 100), sample(logits, configure, draws: 100))
        XCTAssertNotEqual(
            sample(logits, configure, draws: 100),
            sample(
                logits,
                {
                    $0.temperature = 1.5
                    $0.topK = 0
                    $0.minP = 0
                    $0.seed = 43
                }, draws: 100))
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
        XCTAssertEqual(
            sample([.nan, 1, .nan]) {
                $0.temperature = 1
                $0.seed = 2
            }, [1])
        var p = SamplingParameters()
        p.topP = 0
        XCTAssertThrowsError(try p.validate())
        p = SamplingParameters()
        p.repeatPenalty = -1
        XCTAssertThrowsError(try p.validate())
        XCTAssertNoThrow(try SamplingParameters().validate())
    }

    /// Token 1 (the greedy pick) seen 70 tokens ago, then 69 neutral ones (id 5, logit 0): only a
    /// window that reaches it penalises it, handing the pick to id 4.
    func testRepeatLastNIsTheWindowOfThePenalty() {
        func pick(window: Int) -> Int32 {
            var p = SamplingParameters.greedy
            p.repeatPenalty = 2
            p.repeatLastN = window
            var sampler = Sampler(parameters: p)
            sampler.accept(1)
            for _ in 0..<69 { sampler.accept(5) }
            var copy = logits
            return copy.withUnsafeMutableBufferPointer { sampler.sample(logits: $0) }
        }
        XCTAssertEqual(SamplingParameters().repeatLastN, 64)
        XCTAssertEqual(pick(window: 64), 1)
        XCTAssertEqual(pick(window: 70), 4)
        XCTAssertEqual(pick(window: -1), 4, "-1 = the whole context")
        XCTAssertEqual(pick(window: 0), 1, "0 = no penalty")
    }

    func testValidationNamesTheFieldOfEachBadValue() {
        let floatFields: [(String, WritableKeyPath<SamplingParameters, Float>)] = [
            ("temperature", \.temperature), ("top_p", \.topP), ("min_p", \.minP), ("repeat_penalty", \.repeatPenalty),
        ]
        for (name, field) in floatFields {
            for bad: Float in [.nan, .infinity, -.infinity, -1, 1e-40, -.leastNonzeroMagnitude] {
                var p = SamplingParameters()
                p[keyPath: field] = bad
                XCTAssertThrowsError(try p.validate(), "\(name) = \(bad)") { error in
                    guard case .invalidValue(let named, _, _)? = error as? SamplingError else { return XCTFail("\(error)") }
                    XCTAssertEqual(named, name)
                    XCTAssertTrue("\(error)".hasPrefix("\(name) must be "), "\(error)")
                }
            }
        }
        let intFields: [(String, WritableKeyPath<SamplingParameters, Int>, [Int])] = [
            ("top_k", \.topK, [-1, Int(Int32.max) + 1]), ("repeat_last_n", \.repeatLastN, [-2, Int.min, Int(Int32.max) + 1]),
        ]
        for (name, field, values) in intFields {
            for bad in values {
                var p = SamplingParameters()
                p[keyPath: field] = bad
                XCTAssertThrowsError(try p.validate(), "\(name) = \(bad)") { error in
                    XCTAssertTrue("\(error)".hasPrefix("\(name) must be between "), "\(error)")
                }
            }
        }
        var negative = SamplingParameters()
        negative.temperature = -1
        XCTAssertThrowsError(try negative.validate()) { error in
            XCTAssertEqual("\(error)", "temperature must be a finite number >= 0 (0 = greedy), got -1.0")
        }
        var subnormal = SamplingParameters()
        subnormal.repeatPenalty = 1e-40
        XCTAssertThrowsError(try subnormal.validate()) { error in
            XCTAssertTrue("\(error)".hasPrefix("repeat_penalty must be 0 or a normal float"), "\(error)")
        }
        // The edges of each range are valid.
        var edges = SamplingParameters()
        edges.temperature = 0
        edges.topK = 0
        edges.topP = 1
        edges.minP = 1
        edges.repeatPenalty = .leastNormalMagnitude
        edges.repeatLastN = -1
        edges.seed = .max
        XCTAssertNoThrow(try edges.validate())
    }

    /// A Double (JSON, the command line) too small for a normal Float is refused, not rounded to 0.
    func testNarrowingToFloatRefusesUnderflow() throws {
        XCTAssertEqual(try SamplingParameters.float(0.8, field: "temperature"), 0.8)
        XCTAssertEqual(try SamplingParameters.float(0, field: "temperature"), 0)
        for tiny in [1e-40, 1e-50, -1e-300] {
            XCTAssertThrowsError(try SamplingParameters.float(tiny, field: "min_p"), "\(tiny)") { error in
                XCTAssertTrue("\(error)".hasPrefix("min_p must be "), "\(error)")
            }
        }
    }

    /// The smallest valid temperature or penalty pushes a logit past Float's range; the draw must
    /// still be the favourite, not a NaN walk to the last candidate.
    func testOverflowingLogitsDoNotTurnIntoNaN() {
        let sharp = sample([1, 9, 2, 3]) {
            $0.temperature = .leastNormalMagnitude
            $0.topK = 0
            $0.topP = 1
            $0.minP = 0
            $0.seed = 4
        }
        XCTAssertEqual(sharp, [1])
        var p = SamplingParameters()
        p.temperature = 1
        p.repeatPenalty = .leastNormalMagnitude  // < 1: a boost; 5 / 1.2e-38 = inf
        p.seed = 6
        var sampler = Sampler(parameters: p)
        sampler.accept(0)
        for _ in 0..<20 {
            var boosted: [Float] = [5, 1, 2]
            XCTAssertEqual(boosted.withUnsafeMutableBufferPointer { sampler.sample(logits: $0) }, 0)
        }
        XCTAssertEqual(Sampler.softmax([.infinity, 1, .infinity]), [0.5, 0, 0.5])
    }

    func testRandomSeedsFitAJSONNumber() {
        for _ in 0..<100 { XCTAssertLessThanOrEqual(SamplingParameters.randomSeed(), SamplingParameters.maxJSONSeed) }
    }

    /// The JSON form (the protocol's field names) reads back what it writes, keeps the defaults
    /// for absent or null fields and names the field of every bad value.
    func testJSONFormRoundTripsAndNamesBadFields() throws {
        var p = SamplingParameters()
        p.temperature = 0.7
        p.topK = 12
        p.topP = 0.9
        p.minP = 0
        p.repeatPenalty = 1.1
        p.repeatLastN = -1
        p.seed = 42
        XCTAssertEqual(
            p.json.serialized,
            #"{"temperature":0.7,"top_k":12,"top_p":0.9,"min_p":0,"repeat_penalty":1.1,"repeat_last_n":-1,"seed":42}"#)
        XCTAssertEqual(try SamplingParameters(json: p.json), p)
        XCTAssertEqual(try SamplingParameters(json: JSONParser.parse(p.json.serialized)), p)
        var defaults = SamplingParameters()
        defaults.seed = SamplingParameters.maxJSONSeed
        XCTAssertEqual(try SamplingParameters(json: defaults.json), defaults)
        XCTAssertEqual(try SamplingParameters(json: .object([("seed", .int(0))])), SamplingParameters())

        let partial = try SamplingParameters(json: JSONParser.parse(#"{"repeat_last_n":0,"temperature":null,"seed":9}"#))
        XCTAssertEqual(partial.repeatLastN, 0)
        XCTAssertEqual(partial.temperature, 0.8)
        XCTAssertEqual(partial.seed, 9)
        // No seed: a fresh one each time (two equal draws of 2^53 values would be a broken generator).
        XCTAssertNotEqual(try SamplingParameters(json: .object([])).seed, try SamplingParameters(json: .object([])).seed)

        for (text, message) in [
            (#"{"temperature":-1}"#, "temperature must be a finite number >= 0 (0 = greedy), got -1.0"),
            (#"{"temperature":1e-40}"#, "temperature must be 0 or a normal float (magnitude >= 1.1754944e-38), got 1e-40"),
            (#"{"repeat_penalty":1e-50}"#, "repeat_penalty must be 0 or a normal float (magnitude >= 1.1754944e-38), got 1e-50"),
            (#"{"top_p":1e39}"#, "top_p must be a number in (0, 1] (1 = off), got inf"),
            (#"{"min_p":"low"}"#, "min_p must be a number"),
            (#"{"top_k":-1}"#, "top_k must be between 0 and 2147483647 (0 = off), got -1"),
            (#"{"repeat_last_n":2.5}"#, "repeat_last_n must be an integer"),
            (#"{"repeat_last_n":-2}"#, "repeat_last_n must be between -1 and 2147483647 (-1 = the whole context, 0 = off), got -2"),
            (#"{"seed":-1}"#, "seed must be between 0 and 9007199254740992, got -1"),
            (#"{"max_token":3}"#, #"unknown field "max_token""#),
            (#"[1]"#, "sampling must be an object"),
        ] {
            XCTAssertThrowsError(try SamplingParameters(json: JSONParser.parse(text)), text) { error in
                XCTAssertEqual("\(error)", message, text)
            }
        }
    }
}
