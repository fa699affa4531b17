import ArgumentParser
import SLMCore
import SLMStore

/// Hidden: the child process of the store's crash test (Tests/SLMStoreTests/StoreCrashTests).
/// Appends turns (and a KV snapshot after each, like `slm chat`) as fast as it can and prints
/// each turn's user text once its commit has returned; the test kills it with SIGKILL at random
/// moments and checks that every printed turn is in the database.
struct StoreCrashChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store-crash-child", shouldDisplay: false)

    @Option(name: .customLong("db")) var database: String
    @Option var conversation: Int64
    @Option var tag: String
    /// Bounds the child even if nobody kills it.
    @Option var turns: Int = 10_000

    func run() throws {
        do {
            let store = try ConversationStore(path: database)
            let owner = StoreLocation.owner
            for i in 0..<turns {
                let user = "\(tag)-\(i)"
                try store.appendTurn(
                    to: conversation, owner: owner, user: user, userTokens: 2,
                    assistant: "reply to \(user): " + String(repeating: "lorem ipsum ", count: i % 50),
                    assistantTokens: 2 + i % 50, cancelled: i % 7 == 3)
                Console.out(user + "\n")
                let tokens = 16 + (i * 37) % 200
                let snapshot = SessionSnapshot(
                    modelIdentity: "crashtest0000000", tokens: [Int32](repeating: 1, count: tokens),
                    layers: 2, keyWidth: 64, valueWidth: 64,
                    cache: [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: tokens * 2 * 128 * 2))
                try store.saveSnapshot(snapshot, conversation: conversation, owner: owner)
            }
        } catch {
            throw Console.fail(error)
        }
    }
}
