import SLMCompute
import SLMModels

/// A multi-turn chat over one `Session`: keeps the messages, renders the history through the
/// model's chat template each turn (without its oldest turns once it outgrows the context:
/// `ChatWindow`), and lets the session reuse the cached prefix, so a turn only runs the new tokens.
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

    /// The prompt for the history and `userMessage`, with the oldest turns left out when it
    /// would not fit with room for the reply (`ChatWindow`).
    public func windowedPrompt(userMessage: String, maxTokens: Int?) throws -> ChatWindow.Choice {
        try ChatWindow.choose(
            messages: messages + [ChatMessage(role: "user", content: userMessage)], for: session, format: format,
            maxTokens: maxTokens, previousOmission: session.chatWindowOmittedTurns)
    }

    /// Starts the assistant's reply to `userMessage`. The history is rendered whole when it fits,
    /// else without its oldest turns (`Generation.stats.truncatedTurns` says how many).
    public func startTurn(userMessage: String, options: GenerationOptions) throws -> Generation {
        if options.contextShift != nil {
            throw SamplingError.invalidValue(
                field: "context_shift", requirement: "unset for a chat (a chat leaves its oldest turns out instead)",
                got: "true")
        }
        let window = try windowedPrompt(userMessage: userMessage, maxTokens: options.maxTokens)
        let generation = try session.startGeneration(promptTokens: window.tokens, options: options)
        generation.noteTruncatedTurns(window.omittedTurns)
        session.chatWindowOmittedTurns = window.omittedTurns
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
