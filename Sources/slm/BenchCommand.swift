import ArgumentParser
import SLMCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prompt processing and generation speed the way llama-bench does.",
        discussion: """
            ppN: tokens per second of processing an N-token prompt from an empty context. \
            tgN: tokens per second of generating N tokens one at a time from an empty context. \
            Each test runs once untimed as a warm-up, then -r times; the table shows mean ± \
            sample standard deviation. Inputs are pseudo-random token ids (BOS first when the \
            model adds one), as llama-bench uses. 0 skips a test.
            """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case md, json }

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @OptionGroup var placement: ThreadOptions

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens for the pp test (0 = skip).")
    var promptTokens = 512

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens for the tg test (0 = skip).")
    var generatedTokens = 128

    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Timed repeats of each test.")
    var repetitions = 5

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: md or json.")
    var output: OutputFormat = .md

    @Flag(name: .customLong("bandwidth"), help: "Measure memory read bandwidth instead (sum a 1 GiB buffer with the worker threads); no model needed.")
    var bandwidth = false

    func validate() throws {
        for (flag, value) in [("-p", promptTokens), ("-n", generatedTokens)]
        where value < 0 || value > Engine.maxBenchmarkTokens {
            throw ValidationError("\(flag) must be between 0 and \(Engine.maxBenchmarkTokens)")
        }
        if promptTokens == 0 && generatedTokens == 0 && !bandwidth { throw ValidationError("-p and -n are both 0: nothing to measure") }
        if repetitions < 1 || repetitions > Self.maxRepetitions {
            throw ValidationError("-r must be between 1 and \(Self.maxRepetitions)")
        }
    }

    /// More repeats than this is a typo, not a measurement plan.
    static let maxRepetitions = 1000

    func run() throws {
        do {
            try measure()
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }

    private func measure() throws {
        if bandwidth { return try measureBandwidth() }
        let path = try DefaultModel.resolve(model)
        let engine = try placement.makeEngine(modelPath: path)
        var tests: [BenchmarkTest] = []
        if promptTokens > 0 { tests.append(BenchmarkTest(.prompt, tokens: promptTokens)) }
        if generatedTokens > 0 { tests.append(BenchmarkTest(.generation, tokens: generatedTokens)) }
        let cpus = engine.pool.cpus.map { CPUTopology.format($0) } ?? "unpinned"
        if output == .md { Console.out(tableHeader) }
        var results: [BenchmarkResult] = []
        for test in tests {
            let result = try engine.benchmark(test, repeats: repetitions)
            results.append(result)
            if output == .md { Console.out(tableRow(result, engine: engine, modelPath: path, cpus: cpus)) }
        }
        if output == .json { Console.out(json(results, weightBytes: engine.weightBytesPerToken)) }
    }

    private func measureBandwidth() throws {
        let cpus = try CPUTopology.current().workerCPUs(threads: placement.threads, requested: placement.cpuList.map(CPUTopology.parseList))
        let pool = ThreadPool(threads: cpus.count, cpus: cpus)
        let samples = try MemoryBandwidth.measureRead(repeats: repetitions, pool: pool).map { $0 / 1e9 }
        let result = BenchmarkResult(test: BenchmarkTest(.prompt, tokens: 0), threads: pool.effectiveCount, tokensPerSecond: samples)
        switch output {
        case .md:
            Console.out("| test | threads | cpus | GB/s |\n| --- | ---: | --- | ---: |\n")
            Console.out("| memory read, \(MemoryBandwidth.defaultBytes >> 20) MiB | \(result.threads) | \(CPUTopology.format(cpus)) "
                        + "| \(format(result.mean, 2)) ± \(format(result.standardDeviation, 2)) |\n")
        case .json:
            Console.out("[\n  {\"test\": \"read_bandwidth\", \"threads\": \(result.threads), \"gbps_mean\": \(format(result.mean, 3)), "
                        + "\"gbps_sd\": \(format(result.standardDeviation, 3))}\n]\n")
        }
    }

    private var tableHeader: String {
        "| model | size | params | threads | cpus | test | t/s |\n"
            + "| --- | ---: | ---: | ---: | --- | ---: | ---: |\n"
    }

    private func tableRow(_ r: BenchmarkResult, engine: Engine, modelPath: String, cpus: String) -> String {
        let bytes = engine.file.tensors.reduce(0) { $0 + $1.byteCount }
        let params = engine.file.tensors.reduce(0) { $0 + $1.elementCount }
        let name = modelPath.split(separator: "/").last.map(String.init) ?? modelPath
        return "| \(name) | \(format(Double(bytes) / 1_048_576, 2)) MiB | \(format(Double(params) / 1e6, 2)) M "
            + "| \(r.threads) | \(cpus) | \(r.test.name) | \(format(r.mean, 2)) ± \(format(r.standardDeviation, 2)) |\n"
    }

    /// One object per test; tg rows also carry the weight bytes a token reads (for the
    /// bandwidth ceiling).
    private func json(_ results: [BenchmarkResult], weightBytes: Int) -> String {
        let items = results.map { r in
            "  {\"test\": \"\(r.test.name)\", \"threads\": \(r.threads), \"tps_mean\": \(format(r.mean, 3)), "
                + "\"tps_sd\": \(format(r.standardDeviation, 3)), "
                + (r.test.kind == .generation ? "\"weight_bytes_per_token\": \(weightBytes), " : "")
                + "\"samples\": ["
                + r.tokensPerSecond.map { format($0, 3) }.joined(separator: ", ") + "]}"
        }
        return "[\n" + items.joined(separator: ",\n") + "\n]\n"
    }
}
