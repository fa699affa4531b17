import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed set of persistent worker threads for fork/join data parallelism: `run` hands the same
/// body to every worker (plus the calling thread, which is worker 0) and returns when all are done.
///
/// Decode calls `run` a few hundred times per token with sub-millisecond jobs, so a condition
/// variable wake-up (tens of microseconds) per call would dominate. Workers therefore spin on an
/// atomic job counter for a while after each job and only then park on the condition variable;
/// the caller spins on the completion count the same way. With `cpus`, worker i is pinned to
/// `cpus[i]` (the calling thread, worker 0, on its first `run`), so the scheduler cannot park two
/// workers on one core or move one to a little core mid-token.
///
/// Ownership: the workers hold only the shared `Crew` state, never the pool. Were a worker to
/// hold the pool, even briefly, it could end up releasing the last reference and run the pool's
/// deinit on itself (which cannot join itself), or keep the pool and its threads alive forever.
/// So dropping the pool on the owning thread always stops and joins every worker.
public final class ThreadPool: @unchecked Sendable {
    /// Upper bound on `threads`; more than this on an edge board is a configuration mistake.
    public static let maxThreads = 256
    /// Spin iterations before a worker parks (~50-100 µs): long enough to bridge the gap between
    /// the operations of one forward pass, short enough not to burn a core between tokens.
    static let spinLimit = 20_000

    public let threadCount: Int
    /// Workers actually running (≤ threadCount if thread creation failed).
    public var effectiveCount: Int { crew.effectiveCount }
    /// The CPU of each worker (index 0: the calling thread), or nil when unpinned.
    public var cpus: [Int]? { crew.cpus }
    /// Workers whose pinning the kernel refused (they run unpinned).
    public var unpinnedWorkers: Int { crew.failedPins.load(ordering: .relaxed) }

    private let crew: Crew
    /// The thread last pinned as worker 0; another caller gets pinned on its first `run`.
    private var pinnedCaller: pthread_t?
    /// Next chunk to hand out in `parallelForDynamic`.
    private let nextChunk = Atomic<Int>(0)
    /// `barrier`: workers arrived at the current one, and how many have been passed.
    private let barrierArrivals = Atomic<Int>(0)
    private let barrierGeneration = Atomic<Int>(0)
    private var workers: [pthread_t] = []

    /// - Parameters:
    ///   - threads: total workers including the caller; clamped to 1...maxThreads.
    ///   - cpus: CPU per worker (see `CPUTopology.workerCPUs`), used round-robin if shorter;
    ///     nil leaves placement to the scheduler.
    public init(threads: Int, cpus: [Int]? = nil) {
        let count = min(max(threads, 1), Self.maxThreads)
        threadCount = count
        crew = Crew(cpus: cpus.flatMap { list in list.isEmpty ? nil : (0..<count).map { list[$0 % list.count] } })
        for index in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(crew: crew, index: index)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, nil,
                { raw in
                    let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    ctx.crew.pin(worker: ctx.index)
                    ctx.crew.workerLoop(index: ctx.index)
                    return nil
                }, context)
            if rc == 0 {
                workers.append(thread)
            } else {
                Unmanaged<WorkerContext>.fromOpaque(context).release()
            }
        }
        // If the system refused some threads, run with the ones we got. Set before the first job
        // is published (release), so workers read it after seeing that job (acquire).
        crew.effectiveCount = workers.count + 1
    }

    deinit {
        crew.shutDown()
        for t in workers { pthread_join(t, nil) }
    }

    /// Runs `body(workerIndex, workerCount)` on every worker and waits for all of them.
    /// Not reentrant: one `run` at a time per pool.
    public func run(_ body: (Int, Int) -> Void) {
        let count = crew.effectiveCount
        if crew.cpus != nil, pinnedCaller.map({ pthread_equal($0, pthread_self()) == 0 }) ?? true {
            pinnedCaller = pthread_self()
            crew.pin(worker: 0)
        }
        if count == 1 {
            body(0, 1)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            crew.publish(escapable, workers: count - 1)
            escapable(0, count)
            crew.waitForWorkers()
        }
    }

    /// Runs `body`, whose `run` calls pin the calling thread as worker 0 as usual, and then gives
    /// the thread back its previous CPU affinity. For callers that lend a thread they own (a C
    /// program calling libslm): outside this, the calling thread stays pinned after `run`, which
    /// suits the CLI and the daemon but would silently confine the host's thread to one CPU.
    public func withCallerThreadRestored<T>(_ body: () throws -> T) rethrows -> T {
        guard crew.cpus != nil, let saved = CPUTopology.affinityMask() else { return try body() }
        defer {
            if pinnedCaller.map({ pthread_equal($0, pthread_self()) != 0 }) ?? false {
                CPUTopology.pinCurrentThread(toAnyOf: saved)
                pinnedCaller = nil
            }
        }
        return try body()
    }

    /// Splits `0..<count` into one contiguous chunk per worker and runs them in parallel.
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = min(effectiveCount, count)
        if workers == 1 {
            body(0..<count)
            return
        }
        run { index, total in
            let range = Self.chunk(count, index: index, of: min(total, count))
            if !range.isEmpty { body(range) }
        }
    }

    /// Runs `body` over `0..<count` in chunks of `grain` items (the last may be shorter) that
    /// workers take in order as they become free, so a worker the OS interrupted, or a slower
    /// core, holds up the others by at most one chunk.
    public func parallelForDynamic(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let grain = max(1, grain)
        let chunks = (count + grain - 1) / grain
        if effectiveCount == 1 || chunks == 1 {
            body(0..<count)
            return
        }
        nextChunk.store(0, ordering: .relaxed)
        run { _, _ in
            while true {
                let c = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
                if c >= chunks { return }
                body((c * grain)..<min(count, (c + 1) * grain))
            }
        }
    }

    /// Inside a `run` body: returns once all `workers` workers of the job (the body's second
    /// argument) have called it, so what each wrote before is visible to all after. Every worker
    /// must call it equally often. Spins, with the same yield as `run`'s wait: the phases it
    /// separates (quantizing a batch, then multiplying it) last microseconds.
    public func barrier(_ workers: Int) {
        guard workers > 1 else { return }
        let passed = barrierGeneration.load(ordering: .acquiring)
        if barrierArrivals.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == workers {
            // Last to arrive: reset for the next barrier before anyone can pass this one.
            barrierArrivals.store(0, ordering: .relaxed)
            barrierGeneration.wrappingAdd(1, ordering: .releasing)
            return
        }
        var spins = 0
        while barrierGeneration.load(ordering: .acquiring) == passed {
            spins += 1
            if spins > Self.spinLimit { sched_yield() }
        }
    }

    /// The `index`-th of `parts` near-equal contiguous slices of `0..<count`.
    public static func chunk(_ count: Int, index: Int, of parts: Int) -> Range<Int> {
        guard index < parts else { return count..<count }
        let base = count / parts
        let extra = count % parts
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    /// What the workers share with the pool: the job hand-off and its synchronisation. Each
    /// worker holds a strong reference, so the state outlives the last worker even if that worker
    /// exits after the pool is gone.
    private final class Crew: @unchecked Sendable {
        let cpus: [Int]?
        /// Written by the pool's init before the first job is published.
        var effectiveCount = 1
        let failedPins = Atomic<Int>(0)

        private let generation = Atomic<UInt64>(0)
        private let pending = Atomic<Int>(0)
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let workReady = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        /// Guarded by `mutex`.
        private var shuttingDown = false
        /// The current job; written before `generation` is bumped (release) and read after it is
        /// seen (acquire).
        private var job: ((Int, Int) -> Void)?

        init(cpus: [Int]?) {
            self.cpus = cpus
            mutex.initialize(to: pthread_mutex_t())
            workReady.initialize(to: pthread_cond_t())
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(workReady, nil)
        }

        deinit {
            pthread_cond_destroy(workReady)
            pthread_mutex_destroy(mutex)
            workReady.deallocate()
            mutex.deallocate()
        }

        func pin(worker index: Int) {
            guard let cpus else { return }
            if !CPUTopology.pinCurrentThread(to: cpus[index]) { failedPins.add(1, ordering: .relaxed) }
        }

        /// Hands `body` to `workers` workers; the caller must then `waitForWorkers`.
        func publish(_ body: @escaping (Int, Int) -> Void, workers: Int) {
            job = body
            pending.store(workers, ordering: .relaxed)
            bumpGeneration()
        }

        func waitForWorkers() {
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > ThreadPool.spinLimit { sched_yield() }
            }
            job = nil
        }

        /// Makes every worker return from `workerLoop` (after the job it may be running).
        func shutDown() {
            pthread_mutex_lock(mutex)
            shuttingDown = true
            pthread_mutex_unlock(mutex)
            bumpGeneration()
        }

        /// Bumps under the mutex so a worker checking before it parks cannot miss the wake-up.
        private func bumpGeneration() {
            pthread_mutex_lock(mutex)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(workReady)
            pthread_mutex_unlock(mutex)
        }

        func workerLoop(index: Int) {
            var seen: UInt64 = 0
            while true {
                var spins = 0
                while generation.load(ordering: .acquiring) == seen && spins < ThreadPool.spinLimit { spins += 1 }
                if generation.load(ordering: .acquiring) == seen {
                    pthread_mutex_lock(mutex)
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(workReady, mutex) }
                    pthread_mutex_unlock(mutex)
                }
                seen = generation.load(ordering: .acquiring)
                pthread_mutex_lock(mutex)
                let stop = shuttingDown
                pthread_mutex_unlock(mutex)
                if stop { return }

                var body = job
                body?(index, effectiveCount)
                // Drop our reference before reporting done: `run` checks that the closure it lent
                // (withoutActuallyEscaping) is no longer referenced once every worker has finished.
                body = nil
                pending.subtract(1, ordering: .releasing)
            }
        }
    }

    private final class WorkerContext {
        let crew: Crew
        let index: Int
        init(crew: Crew, index: Int) {
            self.crew = crew
            self.index = index
        }
    }
}
