import SLMCore

/// A `ChatSession` bound to a stored conversation. Resuming restores the conversation's KV
/// snapshot when it is valid for this model; otherwise the history is run again on the next turn
/// (the session's prefix reuse does that by itself). Each finished turn is committed to the store,
/// then the KV cache is saved as the conversation's snapshot.
///
/// Not thread-safe (like the `Session` under it), except `Generation.cancel()`.
public final class PersistentChat: @unchecked Sendable {
    /// Characters of the first user message that become a new conversation's title.
    public static let maxAutoTitleCharacters = 60

    public let store: ConversationStore
    public let chat: ChatSession
    public let owner: OwnerID
    /// nil for a new conversation until its first turn is stored: the conversation is created in
    /// the same transaction as that turn, so a first message that is refused (too long for the
    /// context, a bad value, a template error), a turn that fails half-way, or a crash, leaves no
    /// empty conversation behind.
    public private(set) var conversationID: ConversationID?
    /// Whether resuming used a KV snapshot (false: none, or discarded).
    public private(set) var resumedFromSnapshot: Bool
    /// Why the last snapshot could not be saved or restored (the turn itself was stored); nil if it was.
    public private(set) var lastSnapshotError: (any Error)?

    private var needsTitle: Bool
    private var pendingUserMessage: String?

    /// `conversation` nil starts a new conversation, stored with its first turn and titled after
    /// its first user message.
    public init(store: ConversationStore, session: Session, owner: OwnerID, conversation: ConversationID?) throws {
        self.store = store
        self.owner = owner
        let identity = session.engine.file.modelIdentity
        if let id = conversation {
            let stored = try store.conversation(id, owner: owner)
            let history = try store.messages(of: id, owner: owner).map { ChatMessage(role: $0.role, content: $0.content) }
            conversationID = id
            needsTitle = stored.title.isEmpty
            chat = try ChatSession(session: session, messages: history)
            resumedFromSnapshot = false
            if let snapshot = try store.loadSnapshot(conversation: id, owner: owner, modelIdentity: identity) {
                do {
                    try session.restore(snapshot)
                    resumedFromSnapshot = true
                } catch {
                    // Same model but it does not fit this session (e.g. a shorter context): the
                    // session is left empty and the history is re-run.
                    lastSnapshotError = error
                }
            }
            // Without a snapshot the session keeps whatever it caches: the next turn reuses the
            // part that matches the history (none, for a fresh session) and runs the rest.
        } else {
            conversationID = nil
            needsTitle = true
            chat = try ChatSession(session: session)
            resumedFromSnapshot = false
        }
    }

    /// Creates the new conversation now, empty, when it does not exist yet (for callers that
    /// must hand out its id before the first turn, like libslm's `slm_session_attach`).
    @discardableResult
    public func createConversationNow() throws -> ConversationID {
        if let conversationID { return conversationID }
        let created = try store.createConversation(owner: owner, modelIdentity: chat.session.engine.file.modelIdentity)
        conversationID = created.id
        return created.id
    }

    /// Starts the assistant's reply. An oversized or NUL-containing message, or one the owner's
    /// quotas could not store, is refused before anything runs.
    public func startTurn(userMessage: String, options: GenerationOptions) throws -> Generation {
        try ConversationStore.check(userMessage, what: "user message", limit: ConversationStore.maxMessageBytes)
        try store.checkQuota(owner: owner, newConversation: conversationID == nil, incomingBytes: userMessage.utf8.count)
        let generation = try chat.startTurn(userMessage: userMessage, options: options)
        pendingUserMessage = userMessage
        return generation
    }

    /// Call once the generation has finished (an unfinished one is cancelled first): stores the
    /// turn — a cancelled reply is stored marked `cancelled` and stays in the history — then saves
    /// the KV snapshot. Only storing the turn can throw; a snapshot that cannot be saved (disk
    /// full) is reported in `lastSnapshotError`, since the turn itself is safe.
    public func finishTurn(_ generation: Generation) throws {
        guard let user = pendingUserMessage else { return }
        if !generation.isFinished {
            generation.cancel()
            while !generation.isFinished { _ = try? generation.step() }
        }
        let cancelled = generation.stats.stopReason == .cancelled || generation.isCancelled
        let reply = generation.text
        let userTokens = chat.session.engine.tokenizer.encode(user, addSpecial: false, parseSpecial: false).count
        let id: ConversationID
        do {
            if let existing = conversationID {
                try store.appendTurn(
                    to: existing, owner: owner, user: user, userTokens: userTokens,
                    assistant: reply, assistantTokens: generation.generatedTokens.count, cancelled: cancelled)
                id = existing
            } else {
                id =
                    try store.startConversation(
                        owner: owner, title: Self.title(from: user), modelIdentity: chat.session.engine.file.modelIdentity,
                        user: user, userTokens: userTokens, assistant: reply,
                        assistantTokens: generation.generatedTokens.count, cancelled: cancelled
                    ).id
                conversationID = id
                needsTitle = false
            }
        } catch {
            pendingUserMessage = nil
            chat.abandonTurn()
            throw error
        }
        pendingUserMessage = nil
        chat.commitTurn(reply: reply)
        if needsTitle {
            needsTitle = false
            try? store.rename(id, owner: owner, title: Self.title(from: user))
        }
        do {
            try store.saveSnapshot(chat.session.snapshot(), conversation: id, owner: owner)
            lastSnapshotError = nil
        } catch {
            lastSnapshotError = error
        }
    }

    /// The first line of the first message, cut at `maxAutoTitleCharacters` and, since one
    /// character can be any number of combining scalars and the title is stored with the first
    /// turn, at `ConversationStore.maxTitleBytes` (a long title must not cost the turn).
    static func title(from message: String) -> String {
        let line = message.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let trimmed = line.drop(while: { $0.isWhitespace })
        let title = trimmed.count <= maxAutoTitleCharacters ? String(trimmed) : String(trimmed.prefix(maxAutoTitleCharacters - 1)) + "…"
        guard title.utf8.count > ConversationStore.maxTitleBytes else { return title }
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        for scalar in title.unicodeScalars {
            bytes += UTF8.width(scalar)
            if bytes > ConversationStore.maxTitleBytes { break }
            scalars.append(scalar)
        }
        return String(scalars)
    }
}
