import SLMModels

/// Which part of a chat's history goes into the prompt: all of it while it fits, else the
/// system message(s) and the newest turns. The one place this is decided for every chat
/// (`ChatSession`, under slmd's conversations, `slm chat` and libslm's `slm_chat`); the stored
/// history is never shortened, only what is rendered.
///
/// - A turn is a user message and the replies that follow it, up to the next user message; turns
///   are left out whole, oldest first, never the leading system messages nor the newest message.
/// - The prompt leaves room for the reply: `replyReserve(contextLength:maxTokens:)`.
/// - When turns must go, enough go that a further `contextLength / slackDivisor` tokens stay
///   free, and the next turns keep the same first turn while they fit: they then extend the
///   cached window instead of re-running all of it every turn (the window moves again when it
///   next overflows). Without that room, it leaves out as few turns as fit.
/// - The newest message alone (with the system messages and the template) longer than the
///   context is `ModelError.messageLongerThanContext` (the protocol's `too_large`). If it fits
///   but not with the reply's room, it goes alone and the reply gets what is left.
public enum ChatWindow {
    /// Without `max_tokens`, the reply's room is this fraction of the context…
    public static let defaultReplyReserveDivisor = 4
    /// …but at most this many tokens (a 32k context need not keep 8k free).
    public static let maxDefaultReplyReserve = 512
    /// A reply never reserves more than this fraction of the context, whatever `max_tokens`
    /// says: the rest is for the history (a longer reply still runs until the context is full).
    public static let maxReplyReserveDivisor = 2
    /// When the window moves, this fraction of the context is also left free (see above).
    public static let slackDivisor = 4

    /// Tokens kept free for the reply: `maxTokens` when given, else a quarter of the context up
    /// to `maxDefaultReplyReserve`; always at least 1 and at most half the context.
    public static func replyReserve(contextLength: Int, maxTokens: Int?) -> Int {
        let wanted = maxTokens ?? min(contextLength / defaultReplyReserveDivisor, maxDefaultReplyReserve)
        return max(1, min(wanted, contextLength / maxReplyReserveDivisor))
    }

    /// The prompt chosen for a turn.
    public struct Choice: Equatable, Sendable {
        public var tokens: [Int32]
        /// Turns of the history left out of the prompt (0: all of it is there).
        public var omittedTurns: Int
    }

    /// Chooses the prompt for `messages`, whose last element is the new message.
    /// - Parameters:
    ///   - cachedTokens: what the session's cache holds; the window of the previous turn is
    ///     kept only while the cache still holds it.
    ///   - previousOmission: the turns the session's previous chat turn left out, if any.
    ///   - fewestTokens: a lower bound of the tokens of a text of so many bytes, so that windows
    ///     far too long are refused without rendering them (`Tokenizer.fewestTokens(forBytes:)`).
    ///   - render: the prompt tokens of a list of messages (chat template, then tokenizer).
    public static func choose(
        messages: [ChatMessage], contextLength: Int, replyReserve: Int, cachedTokens: [Int32],
        previousOmission: Int?, fewestTokens: (Int) -> Int, render: ([ChatMessage]) throws -> [Int32]
    ) throws -> Choice {
        precondition(!messages.isEmpty, "a chat turn has at least its new message")
        let newest = messages.count - 1
        var systemCount = 0
        while systemCount < newest && messages[systemCount].role == "system" { systemCount += 1 }
        // Where each turn of the history starts; a reply before any user message is a turn too.
        var turnStarts: [Int] = []
        for i in systemCount..<newest where i == systemCount || messages[i].role == "user" { turnStarts.append(i) }
        let turnCount = turnStarts.count
        func firstKept(_ omitted: Int) -> Int { omitted < turnCount ? turnStarts[omitted] : newest }

        // Content bytes of messages[i...], for the lower bound.
        var bytesFrom = [Int](repeating: 0, count: messages.count + 1)
        for i in stride(from: newest, through: 0, by: -1) { bytesFrom[i] = bytesFrom[i + 1] + messages[i].content.utf8.count }
        let systemBytes = bytesFrom[0] - bytesFrom[systemCount]
        func lowerBound(_ omitted: Int) -> Int { fewestTokens(systemBytes + bytesFrom[firstKept(omitted)]) }

        var rendered: [Int: [Int32]] = [:]
        func tokens(_ omitted: Int) throws -> [Int32] {
            if let known = rendered[omitted] { return known }
            let window = Array(messages[..<systemCount]) + messages[firstKept(omitted)...]
            let result = try render(window)
            rendered[omitted] = result
            return result
        }
        func fits(_ omitted: Int, within limit: Int) throws -> Bool {
            guard limit > 0, lowerBound(omitted) <= limit else { return false }
            return try tokens(omitted).count <= limit
        }
        // Leaving out more turns never makes the prompt longer, so the fewest that fit are found
        // by bisection; nil when even the newest message alone does not fit.
        func fewestOmitted(within limit: Int) throws -> Int? {
            guard try fits(turnCount, within: limit) else { return nil }
            var low = 0
            var high = turnCount
            while low < high {
                let middle = (low + high) / 2
                if try fits(middle, within: limit) { high = middle } else { low = middle + 1 }
            }
            return high
        }

        let budget = contextLength - replyReserve
        if try fits(0, within: budget) { return Choice(tokens: try tokens(0), omittedTurns: 0) }
        if let previous = previousOmission, previous > 0, previous <= turnCount, try fits(previous, within: budget) {
            // The cache holds this window if it matches beyond what every window shares (the
            // system messages and the template's opening).
            let window = try tokens(previous)
            let shared = commonPrefix(window, try tokens(turnCount))
            if commonPrefix(window, cachedTokens) > shared { return Choice(tokens: window, omittedTurns: previous) }
        }
        let slack = contextLength / slackDivisor
        if let omitted = try fewestOmitted(within: budget - slack) ?? fewestOmitted(within: budget) {
            return Choice(tokens: try tokens(omitted), omittedTurns: omitted)
        }
        // Only the newest message is left: it goes if it fits at all.
        if lowerBound(turnCount) >= contextLength {
            throw ModelError.messageLongerThanContext(tokens: lowerBound(turnCount), contextLength: contextLength)
        }
        let alone = try tokens(turnCount)
        guard alone.count < contextLength else {
            throw ModelError.messageLongerThanContext(tokens: alone.count, contextLength: contextLength)
        }
        return Choice(tokens: alone, omittedTurns: turnCount)
    }

    /// The prompt for `messages` (the last one the new message) on `session`: its context, its
    /// cached tokens, the model's template and tokenizer. A stored chat passes the turns its
    /// previous turn left out; a whole chat sent with one request (Ollama's `/api/chat`) nil.
    public static func choose(
        messages: [ChatMessage], for session: Session, format: ModelChatFormat, maxTokens: Int?, previousOmission: Int?
    ) throws -> Choice {
        let tokenizer = session.engine.tokenizer
        return try choose(
            messages: messages, contextLength: session.contextLength,
            replyReserve: replyReserve(contextLength: session.contextLength, maxTokens: maxTokens),
            cachedTokens: session.cachedTokens, previousOmission: previousOmission,
            fewestTokens: { tokenizer.fewestTokens(forBytes: $0) },
            render: { window in
                let (text, addSpecial) = try format.prompt(for: window)
                return tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: true)
            })
    }

    static func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        var n = 0
        let limit = min(a.count, b.count)
        while n < limit && a[n] == b[n] { n += 1 }
        return n
    }
}
