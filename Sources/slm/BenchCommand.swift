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
            model adds one), as llama-bench uses. 0 skips a test. As with llama-bench, -p, -n, -d \
            and -t take comma-separated lists (e.g. -p 128,512 -t 1,2): every test runs at every \
            thread count. -d N fills N tokens into the context (untimed) before each repeat: \
            tg128 @ d2048 is decode speed at a 2k context.
            """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case md, json }

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .shortAndLong, help: "Worker threads, or a list such as 1,2 (default: one per CPU of --cpus, else one per big core).")
    var threads: String?

    @Option(name: .customLong("cpus"), help: "CPUs to pin the workers to, e.g. 0,2-3 (default: the big cores; see `slm inspect --cpus`).")
    var cpuList: String?

    @Option(
        name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens for the pp test, or a list such as 128,512 (0 = skip).")
    var promptTokens = "512"

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens for the tg test, or a list (0 = skip).")
    var generatedTokens = "128"

    @Option(
        name: [.customShort("d"), .customLong("n-depth")],
        help: "Tokens already in the context before each test (llama-bench's -d), or a list such as 0,2048.")
    var depths = "0"

    @OptionGroup var cacheTypes: CacheTypeOptions

    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Timed repeats of each test.")
    var repetitions = 5

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: md or json.")
    var output: OutputFormat = .md

    @Flag(
        name: .customLong("bandwidth"),
        help: "Measure memory read bandwidth instead (sum a 1 GiB buffer with the worker threads); no model needed.")
    var bandwidth = false

    func validate() throws {
        let prompts = try Self.counts(promptTokens, flag: "-p", in: 0...Engine.maxBenchmarkTokens)
        let generations = try Self.counts(generatedTokens, flag: "-n", in: 0...Engine.maxBenchmarkTokens)
        if (prompts + generations).allSatisfy({ $0 == 0 }) && !bandwidth {
            throw ValidationError("-p and -n are both 0: nothing to measure")
        }
        _ = try Self.counts(depths, flag: "-d", in: 0...Engine.maxBenchmarkTokens)
        _ = try threadCounts()
        _ = try PlacementOptions.placement(threads: nil, cpuList: cpuList)
        if repetitions < 1 || repetitions > Self.maxRepetitions {
            throw ValidationError("-r must be between 1 and \(Self.maxRepetitions)")
        }
    }

    /// A llama-bench value list: "512" or "128,512", each in `range`, in the order given.
    static func counts(_ text: String, flag: String, in range: ClosedRange<Int>) throws -> [Int] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        return try items.map { item in
            guard let value = Int(item), range.contains(value) else {
                throw ValidationError(
                    "\(flag) must be between \(range.lowerBound) and \(range.upperBound), "
                        + "or a comma-separated list of such numbers; got '\(text)'")
            }
            return value
        }
    }

    /// The thread counts to run, or [nil] for the default placement. Each is checked as `run`'s
    /// -t is, with the same wording.
    private func threadCounts() throws -> [Int?] {
        guard let threads else { return [nil] }
        return try threads.split(separator: ",", omittingEmptySubsequences: false).map { item in
            guard let count = Int(item) else {
                throw ValidationError("-t must be a thread count or a comma-separated list of them; got '\(threads)'")
            }
            try PlacementOptions.checkThreads(count)
            return count
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
        var tests: [BenchmarkTest] = []
        let cacheTypes = try cacheTypes.types()
        for depth in try Self.counts(depths, flag: "-d", in: 0...Engine.maxBenchmarkTokens) {
            for tokens in try Self.counts(promptTokens, flag: "-p", in: 0...Engine.maxBenchmarkTokens) where tokens > 0 {
                tests.append(BenchmarkTest(.prompt, tokens: tokens, depth: depth))
            }
            for tokens in try Self.counts(generatedTokens, flag: "-n", in: 0...Engine.maxBenchmarkTokens) where tokens > 0 {
                tests.append(BenchmarkTest(.generation, tokens: tokens, depth: depth))
            }
        }
        if output == .md { Console.out(tableHeader) }
        var results: [BenchmarkResult] = []
        var weightBytes = 0
        for threadCount in try threadCounts() {
            // One engine (and worker pool) per thread count, released before the next is loaded.
            let placement = try PlacementOptions.placement(threads: threadCount, cpuList: cpuList)
            let engine = try Engine(modelPath: path, pool: try PlacementOptions.makePool(placement))
            weightBytes = engine.weightBytesPerToken
            let cpus = engine.pool.cpus.map { CPUTopology.format($0) } ?? "unpinned"
            // The next engine's default placement reads this thread's affinity: give it back.
            try engine.pool.withCallerThreadRestored {
                for test in tests {
                    let result = try engine.benchmark(test, repeats: repetitions, cacheTypes: cacheTypes)
                    results.append(result)
                    if output == .md { Console.out(tableRow(result, engine: engine, modelPath: path, cpus: cpus)) }
                }
            }
        }
        if output == .json { Console.out(json(results, weightBytes: weightBytes)) }
    }

    private func measureBandwidth() throws {
        let threadCounts = try threadCounts()
        guard threadCounts.count == 1 else { throw ValidationError("--bandwidth takes one -t value") }
        let pool = try PlacementOptions.makePool(try PlacementOptions.placement(threads: threadCounts[0], cpuList: cpuList))
        let cpus = pool.cpus ?? []
        let samples = try MemoryBandwidth.measureRead(repeats: repetitions, pool: pool).map { $0 / 1e9 }
        let result = BenchmarkResult(test: BenchmarkTest(.prompt, tokens: 0), threads: pool.effectiveCount, tokensPerSecond: samples)
        switch output {
        case .md:
            Console.out("| test | threads | cpus | GB/s |\n| --- | ---: | --- | ---: |\n")
            Console.out(
                "| memory read, \(MemoryBandwidth.defaultBytes >> 20) MiB | \(result.threads) | \(CPUTopology.format(cpus)) "
                    + "| \(format(result.mean, 2)) ± \(format(result.standardDeviation, 2)) |\n")
        case .json:
            Console.out(
                "[\n  {\"test\": \"read_bandwidth\", \"threads\": \(result.threads), \"gbps_mean\": \(format(result.mean, 3)), "
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
