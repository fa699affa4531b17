import SLMCore
import SLMProtocol
import Synchronization

/// One `generate` or `chat` request on its way through the scheduler. Created on the loop thread;
/// after `Scheduler.submit` its engine state belongs to the inference thread, and the loop only
/// touches the two atomic flags.
final class Job: @unchecked Sendable {
    enum Kind {
        case generate(prompt: String)
        /// A whole conversation sent with the request (OpenAI and Ollama chat), rendered with
        /// the model's chat template; nothing is stored. `windowed`: a history too long for the
        /// context loses its oldest turns (`ChatWindow`, as Ollama's `/api/chat` does) instead of
        /// being refused (OpenAI's chat, as OpenAI and llama.cpp's server refuse it).
        case messages([ChatMessage], windowed: Bool)
        case chat(conversation: Int64?, message: String)
        /// Embeddings of texts or token ids; one reply when all are done.
        case embed(EmbedRequest.Inputs, EmbeddingOptions)
        /// A search of the caller's stored messages by meaning, on the memory model.
        case semanticSearch(query: String, limit: Int)
    }

    let connection: UInt64
    let id: RequestID
    /// The client's uid (SO_PEERCRED): the owner of its conversations.
    let owner: UInt32
    let kind: Kind
    let options: GenerationOptions
    /// What the client is sent, in its protocol.
    let replies: any GenerationReplies
    /// The model it runs on. Loop thread only (the inference thread has its engine).
    let model: ServedModel
    /// Its endpoint for the metrics ("generate", "/v1/chat/completions").
    let endpoint: String

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
    var embedding: EmbeddingRun?
    var embeddingStarted = 0.0
    /// Whether its prompt's rows went to the prompt cache (or were considered for it).
    var promptStored = false

    init(
        connection: UInt64, id: RequestID, owner: UInt32, kind: Kind, options: GenerationOptions,
        replies: any GenerationReplies, model: ServedModel, endpoint: String
    ) {
        self.model = model
        self.endpoint = endpoint
        self.connection = connection
        self.id = id
        self.owner = owner
        self.kind = kind
        self.options = options
        self.replies = replies
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
    func startTurn(
        session: Session, owner: UInt32, conversation: Int64?, message: String,
        options: GenerationOptions
    ) throws -> (ChatTurn, Generation)
}

/// The generation fields of a request as engine options; unset sampling fields take
/// `SamplingParameters`' defaults (those of `slm run`).
func generationOptions(_ fields: SamplingFields) throws(ProtocolError) -> GenerationOptions {
    var options = GenerationOptions()
    do throws(SamplingError) {
        options.sampling = try SamplingParameters(json: fields.sampling)
    } catch {
        throw ProtocolError(error)
    }
    options.maxTokens = fields.maxTokens
    options.stopSequences = fields.stop
    if fields.contextShift { options.contextShift = ContextShift(keep: fields.keep ?? 0) }
    return options
}

extension ProtocolError {
    /// The wire error for a sampling setting the engine refuses; both name the field alike.
    init(_ error: SamplingError) {
        switch error {
        case .invalidValue(let field, let requirement, let got):
            self = .invalidValue(field: field, reason: "must be \(requirement), got \(got)")
        case .wrongType(let field, let expected): self = .wrongType(field: field, expected: expected)
        case .unknownField(let field): self = .unknownField(field)
        case .invalidGrammar(let field, let message): self = .invalidValue(field: field, reason: message)
        case .grammarDeadEnd: self = .invalidValue(field: "grammar", reason: "\(error)")
        }
    }
}

/// The engine options of an embedding request; a pooling name the engine lacks is the request's
/// error.
func embeddingOptions(_ request: EmbedRequest) throws(ProtocolError) -> EmbeddingOptions {
    var pooling: Pooling?
    if let name = request.pooling {
        guard let p = Pooling(rawValue: name) else {
            throw .invalidValue(
                field: "pooling", reason: "must be one of \(Pooling.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
        }
        pooling = p
    }
    return EmbeddingOptions(
        pooling: pooling, normalize: request.normalize, dimensions: request.dimensions, binary: request.binary,
        truncate: request.truncate)
}
