import ArgumentParser
import SLMCore

/// `slm perplexity`: the mean negative log-likelihood and perplexity of a text under a model in
/// one context, e.g. to compare KV cache types (`-ctk q8_0 -ctv q8_0` against the default).
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Score a text: mean negative log-likelihood per token and perplexity, in one context.",
        discussion: """
            The text is tokenized (with BOS as the model adds it), cut to the context length, and \
            run from an empty context; every token after the first is scored. Same text, same \
            model and -c: the numbers compare settings such as KV cache types.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .shortAndLong, help: "Text file to score.")
    var file: String

    @OptionGroup var context: ContextOptions

    @OptionGroup var placement: PlacementOptions

    @Flag(name: .customLong("json"), help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        do {
            let text = try readTextFile(file)
            let engine = try placement.makeEngine(modelPath: try DefaultModel.resolve(model))
            let types = try context.cacheTypes.types()
            let state = try engine.makeState(contextLength: context.contextLength, cacheTypes: types)
            let tokens = Array(engine.tokenizer.encode(text, addSpecial: true, parseSpecial: false).prefix(state.contextLength))
            let result = try engine.likelihood(of: tokens, state: state)
            if json {
                Console.out(
                    "{\"tokens\": \(result.scoredTokens + 1), \"cache_type_k\": \"\(types.key.rawValue)\", "
                        + "\"cache_type_v\": \"\(types.value.rawValue)\", \"nll\": \(format(result.meanNegativeLogLikelihood, 6)), "
                        + "\"perplexity\": \(format(result.perplexity, 4))}\n")
            } else {
                Console.out(
                    "\(result.scoredTokens + 1) tokens, KV cache K \(types.key.rawValue) V \(types.value.rawValue): "
                        + "mean NLL \(format(result.meanNegativeLogLikelihood, 6)), perplexity \(format(result.perplexity, 4))\n")
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}
