import SLMCompute
import SLMModels

/// A multi-turn chat over one `Session`: keeps the messages, renders the whole history through the
/// model's chat template each turn, and lets the session reuse the cached prefix, so a turn only
/// runs the new tokens.
///
/// A turn is `startTurn` → drive the `Generation` → `commitTurn` (append user + reply to the
/// history) or `abandonTurn` (history unchanged; the next turn re-runs from the shared prefix).
public final class ChatSession: @unchecked Sendable {
    public let session: Session
    public let format: ModelChatFormat
    public private(set) var messages: [ChatMessage]
    private var pendingUserMessage: String? = nil

    public init(session: Session, messages: [ChatMessage] = []) throws {
        self.session = session
        self.format = try ModelChatFormat(file: session.engine.file)
        self.messages = messages
    }

    /// The prompt tokens for `messages` followed by an opened assistant turn.
    public func promptTokens(for messages: [ChatMessage]) throws -> [Int32] {
        let (text, addSpecial) = try format.prompt(for: messages)
        try session.checkFits(promptBytes: text.utf8.count)
        return session.engine.tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: true)
    }

    /// Starts the assistant's reply to `userMessage`.
    public func startTurn(userMessage: String, options: GenerationOptions) throws -> Generation {
        let tokens = try promptTokens(for: messages + [ChatMessage(role: "user", content: userMessage)])
        let generation = try session.startGeneration(promptTokens: tokens, options: options)
        pendingUserMessage = userMessage
        return generation
    }

    /// Adds the turn started last, with `reply` as the assistant's message.
    public func commitTurn(reply: String) {
        guard let user = pendingUserMessage else { return }
        messages.append(ChatMessage(role: "user", content: user))
        messages.append(ChatMessage(role: "assistant", content: reply))
        pendingUserMessage = nil
    }

    public func abandonTurn() { pendingUserMessage = nil }

    /// Forgets the history and the cache.
    public func reset(messages: [ChatMessage] = []) {
        self.messages = messages
        pendingUserMessage = nil
        session.reset()
    }

    /// Replaces the history (e.g. a conversation loaded from the store); the cache is kept and
    /// reused as far as it matches.
    public func replaceHistory(_ messages: [ChatMessage]) {
        self.messages = messages
        pendingUserMessage = nil
    }
}
