import SLMCore
import SLMProtocol
import Synchronization

/// One `generate` or `chat` request on its way through the scheduler. Created on the loop thread;
/// after `Scheduler.submit` its engine state belongs to the inference thread, and the loop only
/// touches the two atomic flags.
final class Job: @unchecked Sendable {
    enum Kind {
        case generate(prompt: String)
        case chat(conversation: Int64?, message: String)
    }

    let connection: UInt64
    let id: RequestID
    /// The client's uid (SO_PEERCRED): the owner of its conversations.
    let owner: UInt32
    let kind: Kind
    let options: GenerationOptions

    /// Set by `cancel` (a cancel op, the client going away, shutdown).
    let cancelRequested = Atomic<Bool>(false)
    /// Set while the client's connection has too many reply bytes queued (a slow reader).
    let paused = Atomic<Bool>(false)

    /// Whether this job holds its conversation in the scheduler's busy set (under its lock).
    var holdsConversation = false

    // Inference thread only.
    var generation: Generation?
    var session: Session?
    var chat: ChatTurn?

    init(connection: UInt64, id: RequestID, owner: UInt32, kind: Kind, options: GenerationOptions) {
        self.connection = connection
        self.id = id
        self.owner = owner
        self.kind = kind
        self.options = options
    }

    /// The stored conversation a chat turn continues (nil for generate and new conversations).
    var conversation: Int64? {
        if case .chat(let c, _) = kind { return c }
        return nil
    }

    var isCancelRequested: Bool { cancelRequested.load(ordering: .relaxed) }
    var isPaused: Bool { paused.load(ordering: .relaxed) }
}

/// What a chat turn needs besides its generation; the conversation store supplies it.
protocol ChatTurn: AnyObject {
    var conversationID: Int64 { get }
    /// Stores the finished turn (cancelled replies too, marked).
    func finish(_ generation: Generation) throws
}

/// Starts chat turns on the inference thread; nil when the daemon runs without a store.
protocol ChatBackend: AnyObject, Sendable {
    func startTurn(session: Session, owner: UInt32, conversation: Int64?, message: String,
                   options: GenerationOptions) throws -> (ChatTurn, Generation)
}

/// Sampling fields of a request as engine options, with the defaults of `slm run`.
func generationOptions(_ fields: SamplingFields, randomSeed: () -> UInt64) throws(ProtocolError) -> GenerationOptions {
    var sampling = SamplingParameters()
    if let t = fields.temperature { sampling.temperature = Float(t) }
    if let k = fields.topK { sampling.topK = k }
    if let p = fields.topP { sampling.topP = Float(p) }
    if let p = fields.minP { sampling.minP = Float(p) }
    if let r = fields.repeatPenalty { sampling.repeatPenalty = Float(r) }
    if let n = fields.repeatLastN { sampling.repeatLastN = n }
    sampling.seed = fields.seed ?? randomSeed()
    if let problem = sampling.validationError() { throw .invalidValue(field: "sampling", reason: problem) }
    var options = GenerationOptions()
    options.sampling = sampling
    options.maxTokens = fields.maxTokens
    options.stopSequences = fields.stop
    return options
}
