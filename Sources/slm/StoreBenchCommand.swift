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
    @Option(help: "Semantic memory instead: store each line of this file as a message, embed them all, then search.")
    var semanticCorpus: String?
    @Option(help: "Queries for --semantic-corpus, one per line (default: its last 200 lines, left out of the store).")
    var semanticQueries: String?
    @OptionGroup var memory: MemoryModelOption

    func run() throws {
        if let semanticCorpus { return try runSemantic(corpus: semanticCorpus) }
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
                cache: [UInt8](repeating: 0x3C, count: snapshotTokens * 30 * 384 * 2))
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

    /// Semantic memory at corpus scale (docs/embeddings.md): stores every line as a message,
    /// times the indexing pass and each search (query embedding and store search apart), and
    /// measures recall@10 against exact cosine over all the stored float vectors: of symmetric
    /// Hamming ranking, of the asymmetric binary pre-filter alone, and of the store's search (its
    /// top 100 re-ranked by cosine).
    private func runSemantic(corpus: String) throws {
        do {
            var lines = EmbedCommand.lines(try readTextFile(corpus)).filter { !$0.isEmpty }
            let queries: [String]
            if let file = semanticQueries {
                queries = EmbedCommand.lines(try readTextFile(file)).filter { !$0.isEmpty }
            } else {
                queries = Array(lines.suffix(200))
                lines.removeLast(min(200, lines.count))
            }
            let engine = try Engine(modelPath: try memory.resolve(required: true)!)
            let store = try ConversationStore(path: database)
            defer { store.close() }
            let owner = StoreLocation.owner
            // Two messages a turn; a conversation every 50 turns.
            var conversation: ConversationID = 0
            var i = 0
            while i + 1 < lines.count {
                if i % 100 == 0 {
                    conversation = try store.createConversation(owner: owner, modelIdentity: "benchmark0000000").id
                }
                try store.appendTurn(
                    to: conversation, owner: owner, user: lines[i], userTokens: 1, assistant: lines[i + 1], assistantTokens: 1,
                    cancelled: false)
                i += 2
            }
            var start = MonotonicClock.now()
            var embedded = 0
            while true {
                let n = try store.indexMessages(with: engine)
                if n == 0 { break }
                embedded += n
            }
            let indexSeconds = MonotonicClock.now() - start
            Console.out(
                "indexed \(embedded) messages in \(format(indexSeconds, 1)) s (\(format(Double(embedded) / indexSeconds, 0)) messages/s)\n")

            // Every stored float vector, for the exact ranking.
            let identity = engine.file.modelIdentity
            let all = try store.allFloatVectors(model: identity)
            var embedTimes: [Double] = []
            var searchTimes: [Double] = []
            var binaryTimes: [Double] = []
            var recallBinary = 0.0
            var recallAsymmetric = 0.0
            var recallReranked = 0.0
            for query in queries {
                start = MonotonicClock.now()
                let (floats, bits) = try SemanticMemory.embedForSearch(query, engine: engine)
                embedTimes.append(MonotonicClock.now() - start)
                start = MonotonicClock.now()
                let reranked = try store.semanticSearch(owner: owner, model: identity, queryBits: bits, queryFloats: floats, limit: 10)
                searchTimes.append(MonotonicClock.now() - start)
                start = MonotonicClock.now()
                let binary = try store.semanticSearch(
                    owner: owner, model: identity, queryBits: bits, queryFloats: [], limit: 10, candidates: 10)
                binaryTimes.append(MonotonicClock.now() - start)
                // The asymmetric pre-filter's own top 10 (re-ranking ten among themselves keeps the set).
                let asymmetric = try store.semanticSearch(
                    owner: owner, model: identity, queryBits: bits, queryFloats: floats, limit: 10, candidates: 10)
                let exact = all.map {
                    ("\($0.conversation)#\($0.sequence)", zip($0.floats, floats).reduce(0.0) { $0 + Double($1.0) * Double($1.1) })
                }
                .sorted { $0.1 > $1.1 }.prefix(10).map(\.0)
                let truth = Set(exact)
                recallBinary += Double(binary.filter { truth.contains("\($0.conversation)#\($0.sequence)") }.count) / 10
                recallAsymmetric += Double(asymmetric.filter { truth.contains("\($0.conversation)#\($0.sequence)") }.count) / 10
                recallReranked += Double(reranked.filter { truth.contains("\($0.conversation)#\($0.sequence)") }.count) / 10
            }
            let q = Double(max(1, queries.count))
            Console.out(
                "\(queries.count) queries over \(all.count) vectors: recall@10 of symmetric Hamming \(format(recallBinary / q, 3)), of the asymmetric binary pre-filter \(format(recallAsymmetric / q, 3)), of its top 100 re-ranked by cosine (the store's search) \(format(recallReranked / q, 3))\n"
            )
            report("query embedding", embedTimes)
            report("store search (binary scan + re-rank of 100)", searchTimes)
            report("store search (Hamming scan only)", binaryTimes)
        } catch let error as ValidationError {
            throw error
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
