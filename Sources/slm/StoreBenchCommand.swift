import ArgumentParser
import SLMCore
@_spi(Benchmarks) import SLMStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hidden: what the store's durability costs on this disk (docs/benchmarks.md). Appends turns
/// with synchronous=FULL (what slm does) and NORMAL, interleaved in rounds, and saves KV snapshots
/// of SmolLM2-135M's shape; prints per-operation times.
struct StoreBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store-bench", shouldDisplay: false)

    @Option(name: .customLong("db")) var database: String
    @Option var turns: Int = 100
    @Option(help: "Tokens in each synthetic KV snapshot.") var snapshotTokens: Int = 1000
    @Option var snapshots: Int = 5

    func run() throws {
        do {
            let store = try ConversationStore(path: database)
            defer { store.close() }
            let owner = StoreLocation.owner
            let c = try store.createConversation(owner: owner, modelIdentity: "benchmark0000000")
            // A typical turn: a ~300-byte question, a ~1.2 KB reply.
            let user = String(repeating: "How do I water clay soil? ", count: 12)
            let reply = String(repeating: "Water deeply twice a week. ", count: 45)
            var times: [String: [Double]] = ["FULL": [], "NORMAL": []]
            for round in 0..<(2 * turns) {
                let level = round % 2 == 0 ? "FULL" : "NORMAL"
                try store.setTurnSynchronousFull(level == "FULL")
                let start = MonotonicClock.now()
                try store.appendTurn(
                    to: c.id, owner: owner, user: user, userTokens: 70, assistant: reply, assistantTokens: 250, cancelled: false)
                times[level]!.append(MonotonicClock.now() - start)
            }
            try store.setTurnSynchronousFull(true)
            for level in ["FULL", "NORMAL"] { report("appendTurn synchronous=\(level)", times[level]!) }

            // SmolLM2-135M: 30 layers, 3 KV heads × 64 = 192-wide keys and values, F16.
            let snapshot = SessionSnapshot(
                modelIdentity: "benchmark0000000", tokens: [Int32](repeating: 1, count: snapshotTokens),
                layers: 30, keyWidth: 192, valueWidth: 192,
                cache: [UInt16](repeating: 0x3C00, count: snapshotTokens * 30 * 384))
            var saves: [Double] = []
            var loads: [Double] = []
            for _ in 0..<snapshots {
                var start = MonotonicClock.now()
                try store.saveSnapshot(snapshot, conversation: c.id, owner: owner)
                saves.append(MonotonicClock.now() - start)
                start = MonotonicClock.now()
                _ = try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "benchmark0000000")
                loads.append(MonotonicClock.now() - start)
            }
            Console.out("snapshot: \(snapshotTokens) tokens, \(snapshot.serialized().count) bytes\n")
            report("saveSnapshot", saves)
            report("loadSnapshot", loads)

            // What `slm chat` does per turn: commit the turn (FULL), then save the snapshot
            // (NORMAL). The next FULL commit also syncs the snapshot's pages still in the log.
            var cycleTurns: [Double] = []
            var cycleSaves: [Double] = []
            for _ in 0..<snapshots {
                var start = MonotonicClock.now()
                try store.appendTurn(
                    to: c.id, owner: owner, user: user, userTokens: 70, assistant: reply, assistantTokens: 250, cancelled: false)
                cycleTurns.append(MonotonicClock.now() - start)
                start = MonotonicClock.now()
                try store.saveSnapshot(snapshot, conversation: c.id, owner: owner)
                cycleSaves.append(MonotonicClock.now() - start)
            }
            report("per turn: appendTurn (FULL) after a snapshot save", cycleTurns)
            report("per turn: saveSnapshot after appendTurn", cycleSaves)
        } catch {
            throw Console.fail(error)
        }
    }

    private func report(_ what: String, _ seconds: [Double]) {
        let sorted = seconds.sorted()
        let mean = seconds.reduce(0, +) / Double(max(1, seconds.count))
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let p95 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 95 / 100)]
        Console.out(
            "\(what): n=\(seconds.count) mean \(format(mean * 1000, 2)) ms, median \(format(median * 1000, 2)) ms, p95 \(format(p95 * 1000, 2)) ms\n"
        )
    }
}
