import SLMCore
import SLMStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `slm chat` running the model in this process: reads user lines from stdin, streams replies to
/// stdout, stores every turn through `PersistentChat`.
struct LocalChat {
    var modelPath: String
    var databasePath: String
    var conversation: Int64?
    var options: GenerationOptions
    var placement: PlacementOptions
    var contextLength: Int?
    var cacheTypes: KVCacheTypes
    var printStats: Bool
    /// An embedding model: every stored message then gets its vector for semantic search.
    var memoryModelPath: String?

    func run() throws {
        let store = try ConversationStore(path: databasePath)
        defer { store.close() }
        let engine = try placement.makeEngine(modelPath: modelPath)
        let memory = try memoryModelPath.map { try placement.makeEngine(modelPath: $0) }
        if let memory { try MemoryModelOption.indexAll(store, engine: memory) }
        let session = try Session(engine: engine, contextLength: contextLength, cacheTypes: cacheTypes)

        let resumeStart = MonotonicClock.now()
        let chat = try PersistentChat(store: store, session: session, owner: StoreLocation.owner, conversation: conversation)
        let resumeSeconds = MonotonicClock.now() - resumeStart
        if let id = conversation {
            let how =
                chat.resumedFromSnapshot ? "KV snapshot of \(session.cachedTokens.count) tokens" : "history, re-run on the next message"
            Console.err("conversation \(id): \(chat.chat.messages.count) messages resumed from the \(how)\n")
            let createdWith = try store.conversation(id, owner: StoreLocation.owner).modelIdentity
            if createdWith != engine.file.modelIdentity {
                Console.err(
                    "note: the conversation was started with another model (\(createdWith)); this one is \(engine.file.modelIdentity)\n")
            }
        }
        if printStats { Console.err("resume: \(format(resumeSeconds * 1000, 1)) ms\n") }

        var reader = LineReader()
        while let text = reader.nextMessage() {
            if text.allSatisfy(\.isWhitespace) { continue }
            if text == "/quit" || text == "/exit" { break }
            do {
                try turn(text, chat: chat)
                if let memory { try MemoryModelOption.indexAll(store, engine: memory) }
            } catch let error as StoreError {
                // The turn could not be stored (disk full…): stop rather than chat on unsaved;
                // the command prints the error.
                throw error
            } catch {
                // The model refused the message (e.g. the context is full): nothing was stored.
                Console.err("\nerror: \(error)\n")
            }
        }
    }

    private func turn(_ message: String, chat: PersistentChat) throws {
        let generation = try chat.startTurn(userMessage: message, options: options)
        var finalStats: GenerationStats
        CancelOnInterrupt.arm()
        defer { CancelOnInterrupt.disarm() }
        stepping: while true {
            if CancelOnInterrupt.wasInterrupted { generation.cancel() }
            switch try generation.step() {
            case .text(let piece):
                if !piece.isEmpty { Console.out(piece) }
            case .finished(let tail, let stats):
                Console.out(tail)
                finalStats = stats
                break stepping
            }
        }
        Console.out("\n")
        let isNew = chat.conversationID == nil
        try chat.finishTurn(generation)
        // A new conversation exists from its first stored turn on (a chat that never got a
        // message leaves none behind).
        if isNew, let id = chat.conversationID { Console.err("conversation \(id) (new)\n") }
        if finalStats.stopReason == .cancelled { Console.err("(reply cut short; stored as cancelled)\n") }
        if finalStats.truncatedTurns > 0 { Console.err(truncationNote(finalStats.truncatedTurns) + "\n") }
        if let problem = chat.lastSnapshotError { Console.err("warning: KV snapshot not saved: \(problem)\n") }
        if printStats {
            Console.err(
                "prompt: \(finalStats.promptTokens) tokens (\(generation.reusedPromptTokens) reused from the cache), time to first token \(format(finalStats.timeToFirstToken * 1000, 1)) ms; \(finalStats.generatedTokens) tokens at \(format(finalStats.generationTokensPerSecond, 1)) tokens/s\n"
            )
        }
    }
}

/// Ctrl-C while a reply is produced cuts that reply short instead of killing slm; outside a
/// reply it keeps its usual meaning. The handler only sets an atomic flag, which the step loop reads.
enum CancelOnInterrupt {
    private static let interrupted = Atomic<Bool>(false)

    static func arm() {
        interrupted.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in CancelOnInterrupt.interrupted.store(true, ordering: .relaxed) }
    }

    static func disarm() { signal(SIGINT, SIG_DFL) }

    static var wasInterrupted: Bool { interrupted.load(ordering: .relaxed) }
}
