import CLibUV
import SLMCore
import SLMJSON
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One model the daemon serves (`-m`, repeatable). Each loaded model has its own engine (mapped
/// weights, pinned worker pool) and its own inference thread (`Scheduler`); a model is mapped on
/// its first request and unmapped after `keepAlive` without one. Loop thread only, except the
/// load itself, which runs on a libuv work thread.
final class ServedModel {
    enum State: String {
        case unloaded, loading, loaded
        /// Its scheduler is finishing; then the engine is dropped (weights unmapped).
        case unloading
    }

    let name: String
    let path: String
    let fileBytes: Int
    /// The file's modification time (Unix seconds), for the model lists.
    let modified: Int
    private(set) var state = State.unloaded
    private(set) var engine: Engine?
    private(set) var scheduler: Scheduler?
    /// Facts from the file for `info`, `/api/show` and the model lists; read once at start.
    let facts: ModelFacts
    /// Jobs that arrived while the model was being mapped; submitted when it is ready. At most
    /// `maxQueuedRequests` (beyond: `busy`).
    var waitingForLoad: [Job] = []
    /// How long it stays mapped after its last request; a request's `keep_alive` sets it.
    var keepAlive: KeepAlive
    /// Loop time (ms) of the last request's end, or its start while one is in flight.
    var lastUsed: UInt64 = 0
    /// Requests submitted and not finished (the model is not unloaded under them).
    var inFlight = 0
    /// Seconds the last load took (Ollama's `load_duration` for the requests that waited on it).
    private(set) var lastLoadSeconds = 0.0
    /// The error of the last load that failed (reported to the requests that waited).
    private(set) var loadError: String?
    /// Set when this model embeds the stored messages (`memory-model`): its scheduler runs the
    /// indexing pass, and it stays mapped while messages wait for vectors.
    var semanticIndex: SemanticIndex?
    /// The daemon's memory budget, which this model's scheduler reports to.
    let budget: MemoryBudget

    init(name: String, path: String, keepAlive: KeepAlive, budget: MemoryBudget) throws(DaemonError) {
        self.name = name
        self.budget = budget
        self.path = path
        self.keepAlive = keepAlive
        var info = stat()
        guard stat(path, &info) == 0 else { throw .config("model \(name): cannot open \(path): \(String(cString: strerror(errno)))") }
        fileBytes = Int(info.st_size)
        modified = Int(info.st_mtim.tv_sec)
        do {
            facts = try ModelFacts(path: path)
        } catch {
            throw .config("model \(name): \(path): \(error)")
        }
    }

    /// Maps the model now, on the calling thread (the first model, at start).
    func loadNow(config: DaemonConfig, wake: @escaping @Sendable () -> Void, chatBackend: ChatBackend?) throws(DaemonError) {
        let start = MonotonicClock.now()
        let (engine, scheduler) = try Self.makeEngine(
            name: name, path: path, config: config, budget: budget, wake: wake, chatBackend: chatBackend)
        finishLoad(engine: engine, scheduler: scheduler, seconds: MonotonicClock.now() - start)
    }

    /// Maps the model on a libuv work thread; `then` runs on the loop when it is ready or failed.
    /// `processCPUs`: the CPUs the process may use, which the work thread takes while it builds
    /// the engine (libuv's threads have the loop thread's narrower mask, `keepLoopOffWorkerCPUs`).
    func loadInBackground(
        loop: UnsafeMutablePointer<uv_loop_t>, config: DaemonConfig, processCPUs: [Int], wake: @escaping @Sendable () -> Void,
        chatBackend: ChatBackend?, then: @escaping (ServedModel) -> Void
    ) {
        guard state == .unloaded else { return }
        state = .loading
        loadError = nil
        let work = LoadWork(model: self, config: config, processCPUs: processCPUs, wake: wake, chatBackend: chatBackend, then: then)
        work.request.pointee.data = Unmanaged.passRetained(work).toOpaque()
        let rc = uv_queue_work(
            loop, work.request,
            { request in
                let work = Unmanaged<LoadWork>.fromOpaque(request!.pointee.data).takeUnretainedValue()
                let previous = CPUTopology.current().available
                _ = CPUTopology.pinCurrentThread(toAnyOf: work.processCPUs)
                defer { _ = CPUTopology.pinCurrentThread(toAnyOf: previous) }
                let start = MonotonicClock.now()
                do throws(DaemonError) {
                    work.result = .success(
                        try ServedModel.makeEngine(
                            name: work.model.name, path: work.path, config: work.config, budget: work.model.budget, wake: work.wake,
                            chatBackend: work.chatBackend))
                } catch {
                    work.result = .failure(error)
                }
                work.seconds = MonotonicClock.now() - start
            },
            { request, _ in
                let work = Unmanaged<LoadWork>.fromOpaque(request!.pointee.data).takeRetainedValue()
                let model = work.model
                switch work.result {
                case .success(let (engine, scheduler))?:
                    model.finishLoad(engine: engine, scheduler: scheduler, seconds: work.seconds)
                case .failure(let error)?:
                    model.state = .unloaded
                    model.loadError = "\(error)"
                    Log.error("model \(model.name): cannot load \(model.path): \(error)")
                case nil:
                    model.state = .unloaded
                    model.loadError = "the load did not run"
                }
                work.then(model)
            })
        if rc < 0 {
            Unmanaged<LoadWork>.fromOpaque(work.request.pointee.data).release()
            state = .unloaded
            loadError = uvMessage(rc)
            then(self)
        }
    }

    private func finishLoad(engine: Engine, scheduler: Scheduler, seconds: Double) {
        self.engine = engine
        self.scheduler = scheduler
        lastLoadSeconds = seconds
        state = .loaded
        if let semanticIndex {
            scheduler.attachSemanticIndex(semanticIndex)
            semanticIndex.attach(scheduler)
        }
        Log.info(
            "model \(name) (\(path)) loaded in \(Int(seconds * 1000)) ms, \(engine.pool.effectiveCount) threads pinned to CPUs \(engine.pool.cpus.map { CPUTopology.format($0) } ?? "none")"
        )
    }

    private static func makeEngine(
        name: String, path: String, config: DaemonConfig, budget: MemoryBudget, wake: @escaping @Sendable () -> Void,
        chatBackend: ChatBackend?
    ) throws(DaemonError) -> (Engine, Scheduler) {
        let pool: ThreadPool
        do throws(CPUSelectionError) {
            pool = try WorkerPlacement(threads: config.threads, cpus: config.cpus).makePool()
        } catch {
            throw .config(error.message(threadsName: "--threads", cpusName: "--cpus"))
        }
        let engine: Engine
        do {
            engine = try Engine(modelPath: path, pool: pool)
        } catch {
            throw .config("cannot load the model \(path): \(error)")
        }
        let scheduler = Scheduler(
            engine: engine, limits: config.limits, contextLength: config.contextLength, cacheTypes: config.cacheTypes, budget: budget,
            modelName: name, wake: wake)
        scheduler.chatBackend = chatBackend
        try scheduler.start()
        return (engine, scheduler)
    }

    /// Starts unloading when the model has been idle for its keep-alive; true when it did.
    func unloadIfIdle(now: UInt64, force: Bool = false) -> Bool {
        guard state == .loaded, inFlight == 0, waitingForLoad.isEmpty, let scheduler else { return false }
        if !force {
            guard case .milliseconds(let ms) = keepAlive, now &- lastUsed >= UInt64(ms) else { return false }
            // Not while its indexing pass has messages to embed (it would be mapped again at once).
            if semanticIndex?.isPending == true { return false }
        }
        Log.info("model \(name): idle; unloading")
        semanticIndex?.attach(nil)
        state = .unloading
        scheduler.stopWhenDone()
        return true
    }

    /// After its scheduler reported it stopped: the weights and caches go.
    func finishUnload() {
        scheduler?.join()
        scheduler = nil
        engine = nil
        budget.update(model: name, nil)
        state = .unloaded
        #if canImport(Glibc) && !canImport(Musl)
        malloc_trim(0)
        #endif
        Log.info("model \(name): unloaded")
    }

    /// When it will be unloaded (Unix seconds), for `/api/ps`; nil = never.
    func expiresAt(nowLoop: UInt64, nowUnix: Int) -> Int? {
        guard case .milliseconds(let ms) = keepAlive else { return nil }
        let idle = inFlight > 0 ? 0 : Int(nowLoop &- lastUsed)
        return nowUnix + max(0, ms - idle) / 1000
    }
}

/// A model file's facts, read from its GGUF header without loading the weights.
struct ModelFacts {
    let displayName: String
    let architecture: String
    let trainedContextLength: Int
    let quantization: String
    let parameterCount: Int
    let chatTemplate: String?

    init(path: String) throws {
        let file = try GGUFFile(path: path)
        let baseName = path.split(separator: "/").last.map(String.init) ?? path
        displayName = file.string("general.name") ?? baseName
        architecture = (try? file.architecture()) ?? "unknown"
        trainedContextLength = file.int("\(architecture).context_length") ?? 0
        var bytes: [String: Int] = [:]
        var parameters = 0
        for tensor in file.tensors {
            bytes[tensor.type.description, default: 0] += tensor.byteCount
            parameters += tensor.elementCount
        }
        // The tensor type holding most of the weight bytes ("Q4_1"): what people mean by a model's quantization.
        quantization = bytes.max { $0.value < $1.value }?.key ?? "unknown"
        parameterCount = parameters
        chatTemplate = file.string("tokenizer.chat_template")
    }

    /// "135M", "1.5B": Ollama's `parameter_size`.
    var parameterSize: String {
        let n = Double(parameterCount)
        if n >= 1e9 { return "\((n / 1e8).rounded() / 10)B" }
        return "\(Int((n / 1e6).rounded()))M"
    }
}

/// A model load on its way through a libuv work thread.
final class LoadWork {
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
    let model: ServedModel
    let path: String
    let config: DaemonConfig
    let processCPUs: [Int]
    let wake: @Sendable () -> Void
    let chatBackend: ChatBackend?
    let then: (ServedModel) -> Void
    var result: Result<(Engine, Scheduler), DaemonError>?
    var seconds = 0.0

    init(
        model: ServedModel, config: DaemonConfig, processCPUs: [Int], wake: @escaping @Sendable () -> Void, chatBackend: ChatBackend?,
        then: @escaping (ServedModel) -> Void
    ) {
        self.model = model
        path = model.path
        self.config = config
        self.processCPUs = processCPUs
        self.wake = wake
        self.chatBackend = chatBackend
        self.then = then
    }

    deinit { request.deallocate() }
}
