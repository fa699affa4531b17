#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed set of persistent worker threads for fork/join data parallelism: `run` hands the same
/// body to every worker (plus the calling thread, which is worker 0) and returns when all are done.
///
/// Workers sleep on a condition variable between jobs. Pinning to cores and a spin-then-park
/// barrier belong to the kernels issue; this pool keeps the interface they will sit behind.
public final class ThreadPool: @unchecked Sendable {
    /// Upper bound on `threads`; more than this on an edge board is a configuration mistake.
    public static let maxThreads = 256

    public let threadCount: Int

    private var mutex = pthread_mutex_t()
    private var workReady = pthread_cond_t()
    private var workDone = pthread_cond_t()
    private var generation: UInt64 = 0
    private var pending = 0
    private var shuttingDown = false
    private var job: ((Int, Int) -> Void)?
    private var workers: [pthread_t] = []

    /// - Parameter threads: total workers including the caller; clamped to 1...maxThreads.
    public init(threads: Int) {
        threadCount = min(max(threads, 1), Self.maxThreads)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&workReady, nil)
        pthread_cond_init(&workDone, nil)
        for index in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                ctx.pool.workerLoop(index: ctx.index)
                return nil
            }, context)
            if rc == 0 {
                workers.append(thread)
            } else {
                Unmanaged<WorkerContext>.fromOpaque(context).release()
            }
        }
        // If the system refused some threads, run with the ones we got.
        effectiveCount = workers.count + 1
    }

    /// Workers actually running (≤ threadCount if thread creation failed).
    public private(set) var effectiveCount = 1

    deinit {
        pthread_mutex_lock(&mutex)
        shuttingDown = true
        pthread_cond_broadcast(&workReady)
        pthread_mutex_unlock(&mutex)
        for t in workers { pthread_join(t, nil) }
        pthread_cond_destroy(&workReady)
        pthread_cond_destroy(&workDone)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body(workerIndex, workerCount)` on every worker and waits for all of them.
    /// Not reentrant: one `run` at a time per pool.
    public func run(_ body: (Int, Int) -> Void) {
        let count = effectiveCount
        if count == 1 {
            body(0, 1)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            pthread_mutex_lock(&mutex)
            job = escapable
            pending = count - 1
            generation &+= 1
            pthread_cond_broadcast(&workReady)
            pthread_mutex_unlock(&mutex)

            escapable(0, count)

            pthread_mutex_lock(&mutex)
            while pending > 0 { pthread_cond_wait(&workDone, &mutex) }
            job = nil
            pthread_mutex_unlock(&mutex)
        }
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

    /// The `index`-th of `parts` near-equal contiguous slices of `0..<count`.
    public static func chunk(_ count: Int, index: Int, of parts: Int) -> Range<Int> {
        guard index < parts else { return count..<count }
        let base = count / parts, extra = count % parts
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    private func workerLoop(index: Int) {
        var seen: UInt64 = 0
        while true {
            pthread_mutex_lock(&mutex)
            while generation == seen && !shuttingDown { pthread_cond_wait(&workReady, &mutex) }
            if shuttingDown {
                pthread_mutex_unlock(&mutex)
                return
            }
            seen = generation
            var body = job
            let count = effectiveCount
            pthread_mutex_unlock(&mutex)

            body?(index, count)
            // Drop our reference before reporting done: `run` checks that the closure it lent
            // (withoutActuallyEscaping) is no longer referenced once every worker has finished.
            body = nil

            pthread_mutex_lock(&mutex)
            pending -= 1
            if pending == 0 { pthread_cond_signal(&workDone) }
            pthread_mutex_unlock(&mutex)
        }
    }

    private final class WorkerContext {
        let pool: ThreadPool
        let index: Int
        init(pool: ThreadPool, index: Int) {
            self.pool = pool
            self.index = index
        }
    }
}
