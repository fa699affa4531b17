import CLibUV
import SLMCore
import SLMJSON
import SLMProtocol
import SLMStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The conversation store as the daemon uses it: `chat` turns on the inference thread (through
/// `PersistentChat`), `conversations.*` queries on libuv's work threads, so neither the loop nor
/// a generation waits for SQLite's fsync. Every query is scoped to the client's uid.
final class StoreAccess {
    let store: ConversationStore
    let chatBackend: ChatBackend?
    /// Queries run one at a time: a connection's in arrival order, so a client's `get` then
    /// `delete` happen in that order, and connections in turn (`next`), so one client's many
    /// queries do not hold up another's. At most `max-clients` × `max-requests-per-connection`.
    /// Loop thread only.
    private var pending: [StoreQuery] = []
    private var running = false
    /// Connections in the order their queries last started (for `next`).
    private var turns = Turns<UInt64>()

    init(store: ConversationStore) {
        self.store = store
        chatBackend = StoreChatBackend(store: store)
    }

    static func open(config: DaemonConfig) throws(DaemonError) -> StoreAccess? {
        // Conversations are private: a folder slmd creates is the daemon user's alone; one that
        // already exists is used as it is, with a warning when other users may look inside.
        if !Listener.ensureParentDirectory(config.databasePath, mode: 0o700), let (folder, mode) = openFolder(config.databasePath) {
            Log.warning(
                "the database folder \(folder) is accessible to other users (mode \(String(mode, radix: 8))); chmod 700 it to keep conversations private"
            )
        }
        do {
            let quotas = StoreQuotas(
                maxConversationsPerOwner: config.limits.maxConversationsPerUID,
                maxStoredBytesPerOwner: config.limits.maxStoredBytesPerUID)
            let store = try ConversationStore(path: config.databasePath, quotas: quotas)
            Log.info("conversation store \(config.databasePath)")
            return StoreAccess(store: store)
        } catch {
            throw .store("\(config.databasePath): \(error)")
        }
    }

    func close() { store.close() }

    /// The folder holding `path` and its permission bits, when group or others have any access.
    static func openFolder(_ path: String) -> (String, mode_t)? {
        let folder = Listener.parentDirectory(path) ?? (path.hasPrefix("/") ? "/" : ".")
        var info = stat()
        guard stat(folder, &info) == 0 else { return nil }
        let mode = info.st_mode & 0o777
        return mode & 0o077 != 0 ? (folder, mode) : nil
    }

    /// Runs a `conversations.*` op off the loop; its reply goes back through `Daemon.deliver`.
    func perform(_ op: Operation, id: RequestID, owner: UInt32, connection: UInt64, daemon: Daemon) {
        let store = self.store
        let query = StoreQuery(connection: connection, id: id) {
            do {
                switch op {
                case .listConversations(let limit, let offset):
                    let list = try store.listConversations(owner: owner, limit: limit, offset: offset)
                    return Reply.line(id: id, event: "conversations", [("conversations", .array(list.map(Self.summary)))])
                case .getConversation(let conversation):
                    let meta = try store.conversation(conversation, owner: owner)
                    let messages = try store.messages(of: conversation, owner: owner)
                    return Reply.line(
                        id: id, event: "conversation",
                        [
                            ("conversation", Self.summary(meta)),
                            ("messages", .array(messages.map(Self.message))),
                        ])
                case .deleteConversation(let conversation):
                    try store.deleteConversation(conversation, owner: owner)
                    return Reply.ok(id: id)
                case .searchConversations(let query, let limit, _):
                    let hits = try store.search(owner: owner, query: query, limit: limit)
                    return Reply.line(id: id, event: "search_results", [("results", .array(hits.map(Self.hit)))])
                default:
                    return Reply.error(id: id, code: .internal, message: "\(op.name) is not a store query")
                }
            } catch {
                let (code, message) = classify(error)
                if code == .internal { Log.error("\(op.name): \(error)") }
                return Reply.error(id: id, code: code, message: message)
            }
        }
        pending.append(query)
        startNext(daemon)
    }

    /// A full-text hit as the wire shows it: the passage with the matched words in [brackets].
    static func hit(_ h: SearchHit) -> JSONValue {
        .object([
            ("conversation", .integer(h.conversation)), ("sequence", .integer(h.sequence)), ("role", .string(h.role)),
            ("snippet", .string(h.snippet)),
        ])
    }

    /// A semantic hit: the message's opening and its cosine similarity to the query.
    static func hit(_ h: SemanticHit) -> JSONValue {
        .object([
            ("conversation", .integer(h.conversation)), ("sequence", .integer(h.sequence)), ("role", .string(h.role)),
            ("snippet", .string(h.snippet)), ("score", .number((h.score * 10000).rounded() / 10000)),
        ])
    }

    /// Forgets the queries of a connection that closed; one running has its reply discarded.
    func dropQueries(of connection: UInt64) {
        pending.removeAll { $0.connection == connection }
        turns.served(connection, stillWaiting: false)
    }

    /// The oldest query of the connection served longest ago: linear in the pending queries.
    private func next() -> StoreQuery {
        var best = 0
        var bestTurn = UInt64.max
        var seen: Set<UInt64> = []
        for (index, query) in pending.enumerated() where seen.insert(query.connection).inserted {
            let turn = turns.lastServed(query.connection)
            if turn < bestTurn {
                best = index
                bestTurn = turn
            }
        }
        let query = pending.remove(at: best)
        turns.served(query.connection, stillWaiting: pending.contains { $0.connection == query.connection })
        return query
    }

    private func startNext(_ daemon: Daemon) {
        guard !running, !pending.isEmpty else { return }
        let query = next()
        running = true
        query.request.pointee.data = Unmanaged.passRetained(query).toOpaque()
        let rc = uv_queue_work(
            daemon.loop, query.request,
            { request in
                let query = Unmanaged<StoreQuery>.fromOpaque(request!.pointee.data).takeUnretainedValue()
                query.reply = query.work()
            },
            { request, _ in
                let query = Unmanaged<StoreQuery>.fromOpaque(request!.pointee.data).takeRetainedValue()
                let daemon = Daemon.from(request!.pointee.loop)
                daemon.store?.running = false
                daemon.deliver(query.reply, for: query.id, to: query.connection)
                daemon.store?.startNext(daemon)
            })
        if rc < 0 {
            Unmanaged<StoreQuery>.fromOpaque(query.request.pointee.data).release()
            running = false
            daemon.deliver(
                Reply.error(id: query.id, code: .internal, message: "uv_queue_work: \(uvMessage(rc))"), for: query.id,
                to: query.connection)
            startNext(daemon)
        }
    }

    static func summary(_ c: Conversation) -> JSONValue {
        .object([
            ("id", .integer(c.id)),
            ("title", .string(c.title)),
            ("created_at", .integer(c.createdAt)),
            ("updated_at", .integer(c.updatedAt)),
            ("message_count", .integer(c.messageCount)),
        ])
    }

    static func message(_ m: StoredMessage) -> JSONValue {
        .object([
            ("role", .string(m.role)),
            ("content", .string(m.content)),
            ("tokens", .integer(m.tokenCount)),
            ("created_at", .integer(m.createdAt)),
            ("cancelled", .bool(m.cancelled)),
        ])
    }
}

/// A store query and its reply, owned by libuv between queue and completion.
final class StoreQuery {
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
    let connection: UInt64
    let id: RequestID
    let work: () -> String
    var reply = ""

    init(connection: UInt64, id: RequestID, work: @escaping () -> String) {
        self.connection = connection
        self.id = id
        self.work = work
    }

    deinit { request.deallocate() }
}

/// Chat turns bound to stored conversations.
final class StoreChatBackend: ChatBackend, @unchecked Sendable {
    let store: ConversationStore
    /// Told of every stored turn (set once at start, before any inference thread runs).
    var semanticIndex: SemanticIndex?

    init(store: ConversationStore) { self.store = store }

    func startTurn(
        session: Session, owner: UInt32, conversation: Int64?, message: String,
        options: GenerationOptions
    ) throws -> (ChatTurn, Generation) {
        let chat = try PersistentChat(store: store, session: session, owner: owner, conversation: conversation)
        let generation = try chat.startTurn(userMessage: message, options: options)
        return (StoredTurn(chat: chat, semanticIndex: semanticIndex), generation)
    }
}

final class StoredTurn: ChatTurn {
    let chat: PersistentChat
    let semanticIndex: SemanticIndex?

    init(chat: PersistentChat, semanticIndex: SemanticIndex?) {
        self.chat = chat
        self.semanticIndex = semanticIndex
    }

    /// Read only for the `done` line, after `finish` stored the turn, which gives a new
    /// conversation its id (0 cannot be seen).
    var conversationID: Int64 { chat.conversationID ?? 0 }

    func finish(_ generation: Generation) throws {
        try chat.finishTurn(generation)
        semanticIndex?.markPending()
        if let problem = chat.lastSnapshotError { Log.warning("conversation \(conversationID): KV snapshot not saved: \(problem)") }
    }
}

/// Which protocol error a store failure is.
func classifyStoreError(_ error: any Error) -> (ErrorCode, String)? {
    guard let e = error as? StoreError else { return nil }
    switch e {
    case .notFound: return (.notFound, "\(e)")
    case .tooLarge: return (.tooLarge, "\(e)")
    case .invalidText: return (.badRequest, "\(e)")
    case .busy: return (.busy, "\(e)")
    case .quotaExceeded(.conversations, _): return (.quotaExceeded, "\(e) (slmd setting max-conversations-per-uid)")
    case .quotaExceeded(.storedBytes, _): return (.quotaExceeded, "\(e) (slmd setting max-stored-bytes-per-uid)")
    case .diskFull, .newerSchema, .sqlite, .io: return (.internal, "\(e)")
    }
}
