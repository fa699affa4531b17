public typealias ConversationID = Int64
/// A Unix uid: every query is scoped by it.
public typealias OwnerID = UInt32

public struct Conversation: Sendable, Equatable {
    public var id: ConversationID
    public var owner: OwnerID
    public var title: String
    /// `GGUFFile.modelIdentity` of the model the conversation was created with.
    public var modelIdentity: String
    /// A JSON object's text, opaque to the store ("{}" by default).
    public var settings: String
    /// Unix time, milliseconds.
    public var createdAt: Int64
    public var updatedAt: Int64
    public var messageCount: Int
}

public struct StoredMessage: Sendable, Equatable {
    /// 0, 1, 2… within the conversation.
    public var sequence: Int
    /// "user" | "assistant" | "system"
    public var role: String
    public var content: String
    public var tokenCount: Int
    public var createdAt: Int64
    /// An assistant reply cut short by cancel: stored, marked, and kept in the history.
    public var cancelled: Bool
}

public struct SearchHit: Sendable, Equatable {
    public var conversation: ConversationID
    public var sequence: Int
    public var role: String
    /// The matching passage with the matched words in [brackets].
    public var snippet: String
}
