import ArgumentParser
import SLMStore

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
        static let configuration = CommandConfiguration(abstract: "Full-text search over your messages (all words must occur).")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Words to find.") var query: [String]
        @Option(help: "Most hits to show.") var limit: Int = 20

        func run() throws {
            try withStore(database) { store in
                for hit in try store.search(owner: StoreLocation.owner, query: query.joined(separator: " "), limit: limit) {
                    Console.out("\(hit.conversation)#\(hit.sequence)\t\(hit.role)\t\(hit.snippet)\n")
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
