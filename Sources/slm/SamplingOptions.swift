import ArgumentParser
import SLMCore
import SLMJSON

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

    @Option(help: ArgumentHelp("Constrain the output to a GBNF grammar (llama.cpp's syntax, start rule root).", valueName: "text"))
    var grammar: String?

    @Option(help: ArgumentHelp("Constrain the output to the GBNF grammar in FILE.", valueName: "file"))
    var grammarFile: String?

    @Option(
        help: ArgumentHelp(
            "Constrain the output to JSON valid under the JSON Schema in FILE (or inline JSON starting with {).", valueName: "file"))
    var jsonSchema: String?

    @Flag(help: "Constrain the output to one JSON value (the schema {}).")
    var json = false

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
            try setConstraint(&p)
            try p.validate()
            try Self.checkConstraint(p)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
        return p
    }

    /// At most one of the four constraint options, read into `grammar` or `jsonSchema`.
    private func setConstraint(_ p: inout SamplingParameters) throws {
        let given = [grammar != nil, grammarFile != nil, jsonSchema != nil, json].filter { $0 }.count
        guard given <= 1 else { throw ValidationError("give one of --grammar, --grammar-file, --json-schema and --json") }
        if let grammar { p.grammar = grammar }
        if let grammarFile { p.grammar = try readTextFile(grammarFile) }
        if let jsonSchema {
            let text = jsonSchema.first == "{" ? jsonSchema : try readTextFile(jsonSchema)
            do {
                p.jsonSchema = try JSONParser.parse(text)
            } catch {
                throw ValidationError("--json-schema: \(jsonSchema.first == "{" ? "" : "\(jsonSchema): ")\(error)")
            }
        }
        if json { p.jsonSchema = .object([]) }
    }

    /// Refuses a bad grammar or schema now, before the model loads. Token references by text
    /// (`<think>`) need the model's vocabulary: here any text passes; the model checks it.
    private static func checkConstraint(_ p: SamplingParameters) throws {
        guard let text = try p.constraintGrammar() else { return }
        _ = try Grammar(parsing: text) { _ in 0 }
    }
}
