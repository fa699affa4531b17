/// Everything the store reports. SQLite result codes become these in `Database.error(code:message:)`.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// Also for another owner's conversation: the store never reveals that it exists.
    case notFound(ConversationID)
    case tooLarge(what: String, bytes: Int, limit: Int)
    /// Text the store refuses: invalid UTF-8, NUL bytes, an unknown role.
    case invalidText(String)
    /// SQLITE_FULL: the disk (or the database's page limit) is full; the transaction was rolled back.
    case diskFull(String)
    /// The database was written by a newer slm; it is left untouched.
    case newerSchema(found: Int, supported: Int)
    /// One owner reached a limit of `StoreQuotas`; nothing was stored.
    case quotaExceeded(StoreQuotas.Kind, limit: Int)
    case busy(String)
    case sqlite(code: Int32, message: String)
    case io(String)

    public var description: String {
        switch self {
        case .notFound(let id): return "conversation \(id) not found"
        case .tooLarge(let what, let bytes, let limit): return "\(what) is too large: \(bytes) bytes, the limit is \(limit)"
        case .invalidText(let why): return "invalid text: \(why)"
        case .diskFull(let message): return "the disk is full, nothing was stored (\(message))"
        case .newerSchema(let found, let supported):
            return
                "the conversation database has schema version \(found), newer than the \(supported) this slm understands; upgrade slm (the database was not changed)"
        case .quotaExceeded(.conversations, let limit):
            return "quota exceeded: a user may keep at most \(limit) conversations; delete some to start a new one"
        case .quotaExceeded(.storedBytes, let limit):
            return "quota exceeded: a user may store at most \(limit) bytes of messages and KV snapshots; delete some conversations"
        case .busy(let message): return "the conversation database is busy: \(message)"
        case .sqlite(let code, let message): return "SQLite error \(code): \(message)"
        case .io(let message): return "conversation store I/O error: \(message)"
        }
    }
}
