import ArgumentParser
import SLMCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Generate a continuation of a prompt.",
        discussion: """
            Only the generated text goes to standard output, streamed as it is produced; the \
            statistics (prompt tokens, time to first token, tokens per second) go to standard error.
            Sampling defaults are llama.cpp's: --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 \
            --repeat-penalty 1 --repeat-last-n 64. Use --temp 0 for greedy (deterministic) output.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .shortAndLong, help: "The prompt.")
    var prompt: String?

    @Option(name: .shortAndLong, help: "Read the prompt from a file instead.")
    var file: String?

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens to generate; -1 = until end of text or a full context.")
    var nPredict: Int = -1

    @OptionGroup var sampling: SamplingOptions

    @OptionGroup var placement: PlacementOptions

    @OptionGroup var context: ContextOptions

    @OptionGroup var contextShift: ContextShiftOptions

    @Flag(name: .customLong("no-stats"), help: "Do not print statistics to standard error.")
    var noStats = false

    @Flag(
        name: .customLong("chat"),
        help:
            "Send the prompt as one user message through the model's chat template (ChatML if it has none), with the assistant turn opened."
    )
    var chat = false

    func validate() throws {
        if (prompt == nil) == (file == nil) { throw ValidationError("give exactly one of -p PROMPT or -f FILE") }
        if nPredict < -1 { throw ValidationError("-n must be -1 or ≥ 0") }
    }

    func run() throws {
        do {
            try generate()
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }

    private func generate() throws {
        let promptText = try file.map(readTextFile) ?? prompt!
        let parameters = try sampling.parameters()

        let loadStart = MonotonicClock.now()
        let engine = try placement.makeEngine(modelPath: try DefaultModel.resolve(model))
        if let contextLength = context.contextLength, contextLength > engine.model.trainedContextLength {
            Console.err(
                "warning: -c \(contextLength) exceeds the model's trained context (\(engine.model.trainedContextLength)); quality may drop past it\n"
            )
        }
        let state = try engine.makeState(contextLength: context.contextLength, cacheTypes: try context.cacheTypes.types())
        let loadSeconds = MonotonicClock.now() - loadStart

        var request = GenerationRequest(prompt: promptText)
        if chat {
            let format = try ModelChatFormat(file: engine.file)
            if !format.isFromModel { Console.err("note: the model has no chat template; using the ChatML fallback\n") }
            (request.prompt, request.addSpecial) = try format.prompt(for: [ChatMessage(role: "user", content: promptText)])
            request.parseSpecial = true
        }
        request.maxTokens = nPredict < 0 ? nil : nPredict
        request.sampling = parameters
        request.contextShift = contextShift.contextShift
        let stats = try engine.generate(request, state: state) { text in
            Console.out(text)
            return true
        }
        if !noStats {
            Console.err("\n")
            Console.err(
                "load: \(format(loadSeconds * 1000, 0)) ms, context \(state.contextLength) (KV cache K \(state.cacheTypes.key.rawValue), V \(state.cacheTypes.value.rawValue)), threads \(engine.pool.effectiveCount) (CPUs \(engine.pool.cpus.map { CPUTopology.format($0) } ?? "unpinned")), seed \(parameters.seed)\n"
            )
            Console.err(
                "prompt: \(stats.promptTokens) tokens in \(format(stats.promptSeconds * 1000, 1)) ms (\(format(stats.promptTokensPerSecond, 1)) tokens/s)\n"
            )
            Console.err("time to first token: \(format(stats.timeToFirstToken * 1000, 1)) ms\n")
            Console.err(
                "generated: \(stats.generatedTokens) tokens, \(format(stats.generationTokensPerSecond, 2)) tokens/s (stop: \(stats.stopReason.rawValue))\n"
            )
            if stats.contextShifts > 0 { Console.err("context shifts: \(stats.contextShifts)\n") }
        }
    }
}

func readTextFile(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else {
        throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
        if n < buffer.count { break }
    }
    if ferror(f) != 0 { throw ValidationError("cannot read \(path)") }
    return String(decoding: bytes, as: UTF8.self)
}

/// Fixed-point formatting without Foundation.
func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(Int(rounded))"
    if decimals > 0 {
        var fraction = Int(((abs(rounded) - abs(Double(Int(rounded)))) * scale).rounded())
        if rounded < 0 && Int(rounded) == 0 { text = "-0" }
        var digits = ""
        for _ in 0..<decimals {
            digits = "\(fraction % 10)" + digits
            fraction /= 10
        }
        text += "." + digits
    }
    return text
}
