import ArgumentParser
import SLMCore

/// `-t N` and `--cpus LIST`, shared by the commands that run a model.
struct ThreadOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Worker threads (default: one per CPU of --cpus, else one per big core).")
    var threads: Int?

    @Option(name: .customLong("cpus"), help: "CPUs to pin the workers to, e.g. 0,2-3 (default: the big cores; see `slm inspect --cpus`).")
    var cpuList: String?

    func validate() throws {
        if let threads, threads < 1 || threads > ThreadPool.maxThreads {
            throw ValidationError("-t must be between 1 and \(ThreadPool.maxThreads)")
        }
        try Self.validate(cpuList: cpuList)
    }

    static func validate(cpuList: String?) throws {
        guard let cpuList else { return }
        do {
            _ = try CPUTopology.parseList(cpuList)
        } catch {
            throw ValidationError("--cpus: \(error)")
        }
    }

    /// Loads the engine with this placement; a CPU the process cannot use is a usage error.
    func makeEngine(modelPath: String) throws -> Engine {
        try Self.makeEngine(modelPath: modelPath, threads: threads, cpuList: cpuList)
    }

    static func makeEngine(modelPath: String, threads: Int?, cpuList: String?) throws -> Engine {
        let cpus = try cpuList.map(CPUTopology.parseList)
        do {
            _ = try CPUTopology.current().workerCPUs(threads: threads, requested: cpus)
        } catch {
            throw ValidationError("--cpus: \(error)")
        }
        return try Engine(modelPath: modelPath, threads: threads, cpus: cpus)
    }
}
