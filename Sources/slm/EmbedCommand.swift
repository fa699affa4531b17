import ArgumentParser
import SLMCore

extension Pooling: ExpressibleByArgument {}

/// How vectors are made from hidden states: shared by every command that embeds.
struct EmbeddingOptionGroup: ParsableArguments {
    @Option(help: "Pooling: mean, cls, last or none (one vector per token); default: the model's, else mean.")
    var pooling: Pooling?

    @Flag(name: .customLong("no-normalize"), help: "Do not L2-normalise the vectors.")
    var noNormalize = false

    @Option(help: "Keep the first N dimensions (Matryoshka truncation), normalised again.")
    var dims: Int?

    @Flag(help: "Print sign bits (1 bit per dimension, packed, most significant bit first) as hex.")
    var binary = false

    func validate() throws {
        if let dims, dims < 1 { throw ValidationError("--dims must be at least 1") }
    }

    var options: EmbeddingOptions {
        EmbeddingOptions(pooling: pooling, normalize: !noNormalize, dimensions: dims, binary: binary)
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the embedding of each input, one JSON line per input.",
        discussion: """
            Each TEXT is one input; with -f, each line of FILE is one. A line is a JSON array of \
            numbers, or with --binary a JSON string of hex digits (the most significant bit of \
            the first byte is dimension 0). Encoders (BERT) pack several inputs into one pass; \
            decoders (Llama, Qwen, Gemma) give embeddings too, from their final norm.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .shortAndLong, help: "Read the inputs from a file, one per line.")
    var file: String?

    @OptionGroup var embedding: EmbeddingOptionGroup
    @OptionGroup var placement: PlacementOptions

    @Argument(help: "The texts.")
    var texts: [String] = []

    func validate() throws {
        if texts.isEmpty == (file == nil) { throw ValidationError("give TEXT arguments or -f FILE (not both)") }
    }

    /// The lines of a file: "\n" or "\r\n" ends a line; a last line without one still counts.
    static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    func run() throws {
        do {
            let inputs = try file.map { Self.lines(try readTextFile($0)) } ?? texts
            if inputs.isEmpty { throw ValidationError("\(file ?? "the input") has no lines") }
            let engine = try placement.makeEngine(modelPath: try DefaultModel.resolve(model))
            var start = 0
            while start < inputs.count {
                let end = min(inputs.count, start + EmbeddingLimits.maxInputs)
                var out = ""
                for e in try engine.embed(Array(inputs[start..<end]), options: embedding.options) {
                    e.jsonValue.write(to: &out)
                    out += "\n"
                }
                Console.out(out)
                start = end
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}
