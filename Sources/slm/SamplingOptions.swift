import ArgumentParser
import SLMCore

/// The sampling options of every command that samples (`run`, `chat`, `ask`), declared and
/// explained once. Unset options take `SamplingParameters`' defaults, which the help shows; the
/// type checks the values, so an error names the field as the protocol and slm.h spell it.
struct SamplingOptions: ParsableArguments {
    private static let defaults = SamplingParameters()

    @Option(name: .customLong("temp"), help: "Temperature; 0 = greedy (default: \(defaults.temperature)).")
    var temperature: Double?

    @Option(name: .customLong("top-k"), help: "Keep the K most likely tokens; 0 = off (default: \(defaults.topK)).")
    var topK: Int?

    @Option(name: .customLong("top-p"), help: "Keep the smallest set with cumulative probability ≥ P; 1 = off (default: \(defaults.topP)).")
    var topP: Double?

    @Option(name: .customLong("min-p"), help: "Drop tokens less likely than P × the most likely one; 0 = off (default: \(defaults.minP)).")
    var minP: Double?

    @Option(name: .customLong("repeat-penalty"), help: "Penalise recently seen tokens; 1 = off (default: \(defaults.repeatPenalty)).")
    var repeatPenalty: Double?

    // Unconditional: `--repeat-last-n -1` is a value, not an option.
    @Option(
        name: .customLong("repeat-last-n"), parsing: .unconditional,
        help: "How many recent tokens the repeat penalty considers; 0 = none, -1 = the whole context (default: \(defaults.repeatLastN)).")
    var repeatLastN: Int?

    @Option(name: .shortAndLong, help: "Random seed; the same seed gives the same text (default: a fresh random seed).")
    var seed: UInt64?

    func validate() throws { _ = try parameters() }

    /// The parameters these options ask for, with a fresh random seed when none is given.
    func parameters() throws -> SamplingParameters {
        var p = SamplingParameters()
        do {
            if let temperature { p.temperature = try SamplingParameters.float(temperature, field: "temperature") }
            if let topK { p.topK = topK }
            if let topP { p.topP = try SamplingParameters.float(topP, field: "top_p") }
            if let minP { p.minP = try SamplingParameters.float(minP, field: "min_p") }
            if let repeatPenalty { p.repeatPenalty = try SamplingParameters.float(repeatPenalty, field: "repeat_penalty") }
            if let repeatLastN { p.repeatLastN = repeatLastN }
            p.seed = seed ?? SamplingParameters.randomSeed()
            try p.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return p
    }
}
