import CSLMHeader
import SLMCore
import Synchronization

/// Classes handed to C as opaque pointers: `retained()` gives C one reference, `release(_:)`
/// takes it back, `borrow(_:)` looks at it without changing the count.
protocol OpaqueHandle: AnyObject {}

extension OpaqueHandle {
    func retained() -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    static func borrow(_ pointer: OpaquePointer?) -> Self? {
        guard let pointer else { return nil }
        return Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    static func release(_ pointer: OpaquePointer?) {
        guard let pointer else { return }
        Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).release()
    }
}

/// `slm_model`: the engine plus what every session of it shares.
final class ModelHandle: OpaqueHandle {
    let engine: Engine
    /// nil: the engine's default (min(model, 4096)).
    let contextLength: Int?
    let cacheTypes: KVCacheTypes
    /// The engine's worker pool runs one forward pass at a time; sessions on different threads
    /// take turns per step, so they interleave instead of waiting for whole generations.
    let compute = Mutex<Void>(())

    init(engine: Engine, contextLength: Int?, cacheTypes: KVCacheTypes) {
        self.engine = engine
        self.contextLength = contextLength
        self.cacheTypes = cacheTypes
    }
}

/// Whether a call runs on a session, and the generation `slm_session_cancel` must reach.
struct CallState {
    var busy = false
    var cancelRequested = false
    var generation: Generation? = nil
}

/// `slm_session`.
final class SessionHandle: OpaqueHandle {
    let model: ModelHandle
    let session: Session
    /// Chat history of `slm_chat`; replaced by the conversation's when attached to a store.
    var chat: ChatSession
    var conversation: AttachedConversation? = nil
    /// Statistics of the last generate/chat call; nil before the first.
    var lastStats: GenerationStats? = nil
    let calls = Mutex(CallState())

    init(model: ModelHandle) throws {
        self.model = model
        session = try Session(engine: model.engine, contextLength: model.contextLength, cacheTypes: model.cacheTypes)
        chat = try ChatSession(session: session)
    }

    /// Marks the session busy for the duration of `body`; a second call meanwhile fails.
    func exclusive<T>(_ body: () throws -> T) throws -> T {
        try calls.withLock { state in
            if state.busy { throw CAPIError.sessionBusy }
            state.busy = true
            state.cancelRequested = false
        }
        defer { calls.withLock { $0 = CallState() } }
        return try body()
    }

    func cancel() {
        calls.withLock { state in
            guard state.busy else { return }
            state.cancelRequested = true
            state.generation?.cancel()
        }
    }

    /// How a driven generation ended, as far as the C caller is concerned.
    enum Outcome { case finished, stoppedByCaller }

    /// Runs `generation` to its end, streaming text to `onToken`. Returns normally for a finished
    /// generation or one the callback stopped; throws for cancel and a full context, after
    /// recording the statistics.
    func drive(_ generation: Generation, onToken: slm_token_callback?, userData: UnsafeMutableRawPointer?) throws -> Outcome {
        calls.withLock { state in
            state.generation = generation
            if state.cancelRequested { generation.cancel() }
        }
        var stoppedByCaller = false
        func emit(_ piece: String) {
            guard let onToken, !stoppedByCaller, !piece.isEmpty else { return }
            let keepGoing = piece.withCString { onToken($0, piece.utf8.count, userData) }
            if !keepGoing {
                stoppedByCaller = true
                generation.cancel()
            }
        }
        while true {
            // The host's thread works as worker 0 during the step and gets its CPUs back after.
            let step = try model.compute.withLock { _ in
                try model.engine.pool.withCallerThreadRestored { try generation.step() }
            }
            switch step {
            case .text(let piece):
                emit(piece)
            case .finished(let tail, let stats):
                emit(tail)
                lastStats = stats
                if stats.stopReason == .cancelled && !stoppedByCaller { throw CAPIError.cancelled }
                if stats.stopReason == .contextFull {
                    throw ModelError.contextFull(contextLength: session.contextLength, needed: session.contextLength + 1)
                }
                return stoppedByCaller ? .stoppedByCaller : .finished
            }
        }
    }
}
