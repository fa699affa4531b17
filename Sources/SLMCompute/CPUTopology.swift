#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Errors from choosing the CPUs the worker threads run on.
public enum CPUSelectionError: Error, Equatable, CustomStringConvertible {
    /// `--cpus` text that is not a list of CPU numbers and ranges.
    case invalidList(String, reason: String)
    /// CPUs the process may not run on (offline, or outside its affinity mask).
    case unavailable([Int], available: [Int])
    case invalidThreadCount(Int, maximum: Int)

    public var description: String {
        switch self {
        case .invalidList(let text, let reason):
            return "invalid CPU list '\(text)': \(reason) (expected e.g. 0,2-3)"
        case .unavailable(let cpus, let available):
            return "CPU \(cpus.map(String.init).joined(separator: ",")) not available to this process "
                + "(available: \(CPUTopology.format(available)))"
        case .invalidThreadCount(let n, let maximum):
            return "thread count must be between 1 and \(maximum), got \(n)"
        }
    }

    /// The message prefixed with the setting it is about, as the caller spells its two settings
    /// (`-t`/`--cpus` on the command line, `n_threads`/`cpus` in slm.h).
    public func message(threadsName: String, cpusName: String) -> String {
        if case .invalidThreadCount = self { return "\(threadsName): \(self)" }
        return "\(cpusName): \(self)"
    }
}

/// Where the engine's worker threads run, as every front end asks for it: `slm`'s -t/--cpus (run,
/// chat, bench), slmd's settings, `slm_model_params`. The one place a thread count and a CPU list
/// become worker CPUs, and the one range check of the thread count.
public struct WorkerPlacement: Sendable, Equatable {
    /// nil: one thread per CPU of `cpus`.
    public var threads: Int?
    /// nil: the big cores (`CPUTopology.bigCores`).
    public var cpus: [Int]?

    public init(threads: Int? = nil, cpus: [Int]? = nil) {
        self.threads = threads
        self.cpus = cpus
    }

    /// With the CPU list as text (`--cpus 0,2-3`); checks both settings that need no machine.
    public init(threads: Int?, cpuList: String?) throws(CPUSelectionError) {
        if let threads { try Self.checkThreadCount(threads) }
        self.init(threads: threads, cpus: try cpuList.map { text throws(CPUSelectionError) in try CPUTopology.parseList(text) })
    }

    public static func checkThreadCount(_ threads: Int) throws(CPUSelectionError) {
        guard threads >= 1, threads <= ThreadPool.maxThreads else {
            throw .invalidThreadCount(threads, maximum: ThreadPool.maxThreads)
        }
    }

    /// One CPU per worker thread, checked against `topology` (this machine now by default).
    public func workerCPUs(on topology: CPUTopology = .current()) throws(CPUSelectionError) -> [Int] {
        try topology.workerCPUs(threads: threads, requested: cpus)
    }

    /// The worker pool, its threads pinned as placed.
    public func makePool() throws(CPUSelectionError) -> ThreadPool {
        let cpus = try workerCPUs()
        return ThreadPool(threads: cpus.count, cpus: cpus)
    }
}

/// The CPUs this process may run on and how fast each one can go, read from Linux's sysfs and
/// the scheduler's affinity mask. Big.LITTLE boards (RK3588: 4× A76 at 2.4 GHz + 4× A55 at
/// 1.8 GHz) must not put a decode worker on a little core: every barrier would wait for it.
public struct CPUTopology: Sendable, Equatable {
    /// Largest CPU number accepted in a list (Linux's default CONFIG_NR_CPUS is far below).
    public static let maxCPUNumber = 4095
    /// Longest `--cpus` text accepted.
    public static let maxListLength = 4096

    /// CPUs the process may use, ascending.
    public let available: [Int]
    /// `cpuinfo_max_freq` in kHz per CPU, where sysfs has it.
    public let maxFrequencyKHz: [Int: Int]

    public init(available: [Int], maxFrequencyKHz: [Int: Int]) {
        self.available = Array(Set(available)).sorted()
        self.maxFrequencyKHz = maxFrequencyKHz
    }

    /// What this machine offers now: online CPUs within the process's affinity mask.
    public static func current() -> CPUTopology {
        var cpus = affinityMask() ?? []
        if let online = readFile("/sys/devices/system/cpu/online").flatMap({ try? parseList($0) }) {
            cpus = cpus.isEmpty ? online : cpus.filter(Set(online).contains)
        }
        if cpus.isEmpty { cpus = Array(0..<max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }
        var frequencies: [Int: Int] = [:]
        for cpu in cpus {
            if let text = readFile("/sys/devices/system/cpu/cpu\(cpu)/cpufreq/cpuinfo_max_freq"),
                let khz = Int(text.filter { !$0.isWhitespace }), khz > 0
            {
                frequencies[cpu] = khz
            }
        }
        return CPUTopology(available: cpus, maxFrequencyKHz: frequencies)
    }

    /// The default choice and the reason for it, for `slm inspect --cpus`.
    public struct Choice: Sendable, Equatable {
        public var cpus: [Int]
        public var reason: String
    }

    /// The big cores: those with the highest maximum frequency; all available CPUs when every
    /// frequency is equal or some are unreadable (a VM, or a kernel without cpufreq).
    public func bigCores() -> Choice {
        let known = available.compactMap { cpu in maxFrequencyKHz[cpu].map { (cpu, $0) } }
        guard known.count == available.count, let top = known.map(\.1).max() else {
            return Choice(cpus: available, reason: "no cpufreq maximum for every CPU: using all \(available.count) available")
        }
        let big = known.filter { $0.1 == top }.map(\.0)
        if big.count == available.count {
            return Choice(cpus: big, reason: "all \(big.count) CPUs have the same maximum frequency (\(top / 1000) MHz)")
        }
        let others = Set(known.map(\.1)).subtracting([top]).sorted(by: >).map { "\($0 / 1000)" }.joined(separator: "/")
        return Choice(
            cpus: big,
            reason: "\(big.count) big cores at \(top / 1000) MHz; skipping \(available.count - big.count) slower ones (\(others) MHz)")
    }

    /// The CPUs worker threads are pinned to, one thread each: `requested` (a `--cpus` list,
    /// checked against what is available) or the big cores; `threads` takes the first N of
    /// them, or, when larger, assigns the CPUs round-robin.
    public func workerCPUs(threads: Int?, requested: [Int]?) throws(CPUSelectionError) -> [Int] {
        var cpus = bigCores().cpus
        if let requested {
            let missing = requested.filter { !available.contains($0) }
            guard missing.isEmpty else { throw CPUSelectionError.unavailable(missing, available: available) }
            cpus = requested
        }
        guard let threads else { return cpus }
        try WorkerPlacement.checkThreadCount(threads)
        return (0..<threads).map { cpus[$0 % cpus.count] }
    }

    /// Parses a CPU list in the kernel's format: comma-separated numbers and inclusive ranges
    /// ("0,2-3" = [0, 2, 3]). Duplicates are dropped; the order is ascending.
    public static func parseList(_ text: String) throws(CPUSelectionError) -> [Int] {
        guard text.utf8.count <= maxListLength else {
            throw CPUSelectionError.invalidList(String(text.prefix(40)) + "…", reason: "longer than \(maxListLength) characters")
        }
        let trimmed = text.filter { !$0.isWhitespace }
        guard !trimmed.isEmpty else { throw CPUSelectionError.invalidList(text, reason: "empty") }
        var cpus = Set<Int>()
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw CPUSelectionError.invalidList(text, reason: "empty item") }
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2, let low = Int(bounds[0]), let high = Int(bounds.last!), low >= 0 else {
                throw CPUSelectionError.invalidList(text, reason: "'\(item)' is not a CPU number or a range A-B")
            }
            guard high <= maxCPUNumber else {
                throw CPUSelectionError.invalidList(text, reason: "CPU \(high) is above \(maxCPUNumber)")
            }
            guard low <= high else { throw CPUSelectionError.invalidList(text, reason: "range \(item) is descending") }
            cpus.formUnion(low...high)
        }
        return cpus.sorted()
    }

    /// The kernel's compact form of a CPU list: [0, 2, 3, 4] → "0,2-4".
    public static func format(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var sorted = Array(Set(cpus)).sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted = sorted.dropFirst()
            while sorted.first == last + 1 {
                last += 1
                sorted = sorted.dropFirst()
            }
            parts.append(first == last ? "\(first)" : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }

    /// Pins the calling thread to one CPU; false when the kernel refuses (e.g. a cgroup limit)
    /// or the C library has no affinity calls.
    @discardableResult
    public static func pinCurrentThread(to cpu: Int) -> Bool { pinCurrentThread(toAnyOf: [cpu]) }

    /// Lets the calling thread run on any of `cpus` (e.g. `available`, to undo a pin).
    @discardableResult
    public static func pinCurrentThread(toAnyOf cpus: [Int]) -> Bool {
        guard let setAffinity = AffinityCalls.shared.set, !cpus.isEmpty,
            cpus.allSatisfy({ $0 >= 0 && $0 < maskWords * 64 })
        else { return false }
        var mask = [UInt64](repeating: 0, count: maskWords)
        for cpu in cpus { mask[cpu / 64] |= 1 << UInt64(cpu % 64) }
        return mask.withUnsafeBytes { setAffinity(pthread_self(), $0.count, $0.baseAddress!) } == 0
    }

    /// CPUs the calling thread may run on (for the process: its affinity mask from taskset or
    /// cgroups, as the main thread starts with it), nil if the kernel will not say.
    static func affinityMask() -> [Int]? {
        guard let getAffinity = AffinityCalls.shared.get else { return nil }
        var mask = [UInt64](repeating: 0, count: maskWords)
        let rc = mask.withUnsafeMutableBytes { getAffinity(pthread_self(), $0.count, $0.baseAddress!) }
        guard rc == 0 else { return nil }
        return (0..<(maskWords * 64)).filter { mask[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
    }

    /// Words of the affinity masks passed to the kernel: 1024 CPUs, glibc's cpu_set_t size.
    static let maskWords = 16

    /// glibc's pthread_{set,get}affinity_np, looked up at run time: they are GNU extensions the
    /// Swift Glibc module does not import. nil where the C library lacks them (pinning is then
    /// skipped, never an error).
    private struct AffinityCalls: @unchecked Sendable {
        typealias SetFunction = @convention(c) (pthread_t, Int, UnsafeRawPointer) -> Int32
        typealias GetFunction = @convention(c) (pthread_t, Int, UnsafeMutableRawPointer) -> Int32
        let set: SetFunction?
        let get: GetFunction?

        static let shared: AffinityCalls = {
            let handle = dlopen(nil, RTLD_NOW)
            defer { if let handle { dlclose(handle) } }
            let set = dlsym(handle, "pthread_setaffinity_np").map { unsafeBitCast($0, to: SetFunction.self) }
            let get = dlsym(handle, "pthread_getaffinity_np").map { unsafeBitCast($0, to: GetFunction.self) }
            return AffinityCalls(set: set, get: get)
        }()
    }

    private static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, Int32(buffer.count), f) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
