import ArgumentParser
import SLMCore

/// `-t N` and `--cpus LIST`, shared by the commands that run a model (`run`, `chat`). `bench`,
/// whose -t takes a list, goes through the same checks and wording (`placement`, `checkThreads`).
struct PlacementOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Worker threads (default: one per CPU of --cpus, else one per big core).")
    var threads: Int?

    @Option(name: .customLong("cpus"), help: "CPUs to pin the workers to, e.g. 0,2-3 (default: the big cores; see `slm inspect --cpus`).")
    var cpuList: String?

    func validate() throws { _ = try placement() }

    /// The placement asked for; a bad thread count or CPU list is a usage error naming -t or --cpus.
    func placement() throws -> WorkerPlacement { try Self.placement(threads: threads, cpuList: cpuList) }

    /// Loads the engine with this placement; a CPU the process cannot use is a usage error.
    func makeEngine(modelPath: String) throws -> Engine {
        try Engine(modelPath: modelPath, pool: try Self.makePool(try placement()))
    }

    static func placement(threads: Int?, cpuList: String?) throws -> WorkerPlacement {
        do throws(CPUSelectionError) { return try WorkerPlacement(threads: threads, cpuList: cpuList) } catch { throw usageError(error) }
    }

    static func checkThreads(_ threads: Int) throws {
        do throws(CPUSelectionError) { try WorkerPlacement.checkThreadCount(threads) } catch { throw usageError(error) }
    }

    static func makePool(_ placement: WorkerPlacement) throws -> ThreadPool {
        do throws(CPUSelectionError) { return try placement.makePool() } catch { throw usageError(error) }
    }

    private static func usageError(_ error: CPUSelectionError) -> ValidationError {
        ValidationError(error.message(threadsName: "-t", cpusName: "--cpus"))
    }
}
