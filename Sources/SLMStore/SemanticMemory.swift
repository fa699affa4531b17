import SLMCore

/// Semantic memory: messages' embeddings stored beside them, and a search that finds the
/// messages closest in meaning to a query. The store does not embed: the caller (the daemon's
/// embedding model, `slm chat`) reads the messages that lack a vector (`messagesWithoutVectors`),
/// embeds them and stores the result (`storeVectors`); that pass is resumable by construction,
/// since what is missing is read from the database each time.
///
/// Search: a scan over the owner's sign bits (`BinaryScorer`) keeps the `candidates` best,
/// which are re-ranked by the cosine of their float vectors (when stored), as binary-quantised
/// retrieval does. Another owner's messages are never read.

/// A message waiting for its vector.
public struct PendingMessage: Sendable, Equatable {
    /// The message's row id (not its sequence), the key of its vector.
    public var id: Int64
    public var owner: OwnerID
    public var content: String
}

/// One message's embedding, as the embedding model gave it.
public struct MessageVector: Sendable, Equatable {
    public var messageID: Int64
    /// Sign bits, most significant bit of the first byte = dimension 0.
    public var bits: [UInt8]
    /// The L2-normalised float vector, or empty to store bits only.
    public var floats: [Float]

    public init(messageID: Int64, bits: [UInt8], floats: [Float]) {
        self.messageID = messageID
        self.bits = bits
        self.floats = floats
    }
}

public struct SemanticHit: Sendable, Equatable {
    public var conversation: ConversationID
    public var sequence: Int
    public var role: String
    /// The message's opening (at most `SemanticMemory.snippetCharacters` characters).
    public var snippet: String
    /// Cosine similarity to the query (from the float vectors; from the bits when there are none:
    /// 1 − 2 · Hamming / dimensions).
    public var score: Double
}

public enum SemanticMemory {
    /// Messages embedded per step of the indexing pass.
    public static let batchMessages = 64
    /// Messages read per `messagesWithoutVectors` call at most.
    public static let maxPendingBatch = 256
    /// Hamming candidates re-ranked by cosine, per search.
    public static let defaultCandidates = 100
    public static let maxCandidates = 1000
    public static let snippetCharacters = 200
    /// Largest vector stored: 8192 dimensions.
    public static let maxDimensions = 8192

    /// A query's float vector and sign bits, as `semanticSearch(owner:query:engine:)` embeds it.
    public static func embedForSearch(_ query: String, engine: Engine) throws -> (floats: [Float], bits: [UInt8]) {
        try embed([query], engine: engine)[0]
    }

    /// Normalised float vectors and their sign bits; long texts are cut to what the model takes.
    static func embed(_ texts: [String], engine: Engine) throws -> [(floats: [Float], bits: [UInt8])] {
        let run = try EmbeddingRun(engine: engine, texts: texts, options: EmbeddingOptions(truncate: true))
        while try !run.step() {}
        return run.results.map { e in (e.vectors[0], EmbeddingRun.packSigns(e.vectors[0])) }
    }
}

extension ConversationStore {
    /// One step of the pass that gives messages their vectors: embeds up to `limit` messages
    /// that lack one from `engine`'s model (long ones cut to what it takes) and stores their
    /// float vectors and sign bits. Returns how many it embedded (0: none was left).
    public func indexMessages(with engine: Engine, limit: Int = SemanticMemory.batchMessages) throws -> Int {
        let model = engine.file.modelIdentity
        let pending = try messagesWithoutVectors(model: model, limit: limit)
        guard !pending.isEmpty else { return 0 }
        let vectors = try SemanticMemory.embed(pending.map(\.content), engine: engine)
        try storeVectors(
            zip(pending, vectors).map { MessageVector(messageID: $0.id, bits: $1.bits, floats: $1.floats) }, model: model)
        return pending.count
    }

    /// `semanticSearch` for a text, embedded with `engine` (the model the vectors came from).
    public func semanticSearch(owner: OwnerID, query: String, engine: Engine, limit: Int = 20) throws -> [SemanticHit] {
        try Self.check(query, what: "search query", limit: Self.maxSearchQueryBytes)
        let (floats, bits) = try SemanticMemory.embedForSearch(query, engine: engine)
        return try semanticSearch(
            owner: owner, model: engine.file.modelIdentity, queryBits: bits, queryFloats: floats, limit: limit)
    }

    /// Up to `limit` messages (oldest first) without a vector from `model`, of every owner.
    public func messagesWithoutVectors(model: String, limit: Int) throws -> [PendingMessage] {
        let limit = min(max(0, limit), SemanticMemory.maxPendingBatch)
        return try withDatabase { db in
            let statement = try db.prepare(
                """
                SELECT m.id, c.owner, m.content FROM messages m
                JOIN conversations c ON c.id = m.conversation_id
                WHERE NOT EXISTS (SELECT 1 FROM message_vectors v WHERE v.message_id = m.id AND v.model = ?)
                ORDER BY m.id LIMIT ?
                """, [.text(model), .integer(Int64(limit))])
            var result: [PendingMessage] = []
            while try statement.step() {
                result.append(
                    PendingMessage(
                        id: statement.int64(0), owner: OwnerID(truncatingIfNeeded: statement.int64(1)),
                        content: statement.text(2)))
            }
            return result
        }
    }

    /// How many messages lack a vector from `model` (for progress reports).
    public func countMessagesWithoutVectors(model: String) throws -> Int {
        try withDatabase { db in
            Int(
                try db.integer(
                    "SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_vectors v WHERE v.message_id = m.id AND v.model = ?)",
                    [.text(model)]) ?? 0)
        }
    }

    /// Stores vectors in one transaction. A message deleted meanwhile is skipped (its vector
    /// would have nothing to point to); one already stored is replaced.
    public func storeVectors(_ vectors: [MessageVector], model: String) throws {
        try Self.check(model, what: "model identity", limit: Self.maxModelIdentityBytes)
        for v in vectors {
            guard v.bits.count * 8 <= SemanticMemory.maxDimensions, v.floats.count <= SemanticMemory.maxDimensions,
                v.floats.isEmpty || (v.floats.count + 7) / 8 == v.bits.count, !v.bits.isEmpty
            else {
                throw StoreError.tooLarge(
                    what: "vector of message \(v.messageID)", bytes: v.bits.count, limit: SemanticMemory.maxDimensions / 8)
            }
        }
        try withDatabase { db in
            try db.transaction {
                for v in vectors {
                    guard
                        let owner = try db.integer(
                            "SELECT c.owner FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?",
                            [.integer(v.messageID)])
                    else { continue }
                    try db.run(
                        "INSERT OR REPLACE INTO message_vectors (message_id, model, owner, bits, floats) VALUES (?, ?, ?, ?, ?)",
                        [
                            .integer(v.messageID), .text(model), .integer(owner), .blob(v.bits),
                            v.floats.isEmpty ? .null : .blob(Self.littleEndianBytes(v.floats)),
                        ])
                }
            }
        }
    }

    /// The owner's messages closest to the query: the `candidates` best by the binary pre-filter
    /// (`BinaryScorer`) over the stored sign bits, re-ranked by cosine with `queryFloats` (when
    /// given and stored), best first. Only vectors of `model` are compared.
    public func semanticSearch(
        owner: OwnerID, model: String, queryBits: [UInt8], queryFloats: [Float], limit: Int = 20,
        candidates: Int = SemanticMemory.defaultCandidates
    ) throws -> [SemanticHit] {
        let limit = min(max(0, limit), Self.maxListLimit)
        let candidates = min(max(limit, candidates), SemanticMemory.maxCandidates)
        guard limit > 0, !queryBits.isEmpty else { return [] }
        let scorer = BinaryScorer(queryBits: queryBits, queryFloats: queryFloats)
        return try withDatabase { db in
            // 1. A scan over the owner's bits, keeping the best `candidates`.
            let scan = try db.prepare(
                "SELECT message_id, bits FROM message_vectors WHERE owner = ? AND model = ?",
                [.integer(Int64(owner)), .text(model)])
            var nearest = NearestList(capacity: candidates)
            while try scan.step() {
                guard let score = scan.withBlob(1, scorer.score) else { continue }  // a vector of another width
                nearest.insert(id: scan.int64(0), distance: -score)
            }
            // 2. Re-rank by cosine where float vectors are stored.
            let dimensions = queryBits.count * 8
            var scored: [(id: Int64, score: Double)] = []
            for (id, distance) in nearest.sorted() {
                var score = scorer.cosine(-distance, dimensions: dimensions)
                if !queryFloats.isEmpty,
                    let floats = try db.blob(
                        "SELECT floats FROM message_vectors WHERE message_id = ? AND model = ?",
                        [
                            .integer(id), .text(model),
                        ]), floats.count == queryFloats.count * 4
                {
                    score = Self.cosine(queryFloats, littleEndian: floats)
                }
                scored.append((id, score))
            }
            scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
            // 3. The messages, checked against the owner once more.
            var hits: [SemanticHit] = []
            for (id, score) in scored.prefix(limit) {
                let row = try db.prepare(
                    """
                    SELECT m.conversation_id, m.sequence, m.role, substr(m.content, 1, ?) FROM messages m
                    JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ? AND c.owner = ?
                    """, [.integer(Int64(SemanticMemory.snippetCharacters)), .integer(id), .integer(Int64(owner))])
                guard try row.step() else { continue }
                hits.append(
                    SemanticHit(
                        conversation: row.int64(0), sequence: row.int(1), role: row.text(2),
                        snippet: row.text(3), score: score))
            }
            return hits
        }
    }

    /// For `slm store-bench` only: every stored float vector of `model` with its message's
    /// conversation and sequence (the exact ranking that recall is measured against).
    @_spi(Benchmarks) public func allFloatVectors(model: String) throws -> [(conversation: ConversationID, sequence: Int, floats: [Float])]
    {
        try withDatabase { db in
            let statement = try db.prepare(
                """
                SELECT m.conversation_id, m.sequence, v.floats FROM message_vectors v JOIN messages m ON m.id = v.message_id
                WHERE v.model = ? AND v.floats IS NOT NULL
                """, [.text(model)])
            var rows: [(conversation: ConversationID, sequence: Int, floats: [Float])] = []
            while try statement.step() {
                let floats = statement.withBlob(2) { raw in
                    (0..<(raw.count / 4)).map {
                        Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                    }
                }
                rows.append((statement.int64(0), statement.int(1), floats))
            }
            return rows
        }
    }

    /// Number of differing bits, nil when the widths differ.
    static func hamming(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Int? {
        guard a.count == b.count else { return nil }
        var distance = 0
        var i = 0
        a.withUnsafeBytes { a in
            // Eight bytes at a time through popcount; the tail byte by byte.
            while i + 8 <= a.count {
                let x = a.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                distance += x.nonzeroBitCount
                i += 8
            }
            while i < a.count {
                distance += (a[i] ^ b[i]).nonzeroBitCount
                i += 1
            }
        }
        return distance
    }

    static func cosine(_ query: [Float], littleEndian bytes: [UInt8]) -> Double {
        var dot = 0.0
        var qq = 0.0
        var vv = 0.0
        bytes.withUnsafeBytes { raw in
            for (i, q) in query.enumerated() {
                let v = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))))
                dot += Double(q) * v
                qq += Double(q) * Double(q)
                vv += v * v
            }
        }
        return qq > 0 && vv > 0 ? dot / (qq.squareRoot() * vv.squareRoot()) : 0
    }

    static func littleEndianBytes(_ floats: [Float]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(floats.count * 4)
        for f in floats {
            let bits = f.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}

/// The pre-filter over stored sign bits. With the query's floats it scores a vector by the dot
/// product of the query with the ±1 vector its bits stand for: the query keeps its precision
/// (asymmetric), which on all-MiniLM over 10,000 sentences keeps 99.75 % of the exact top 10
/// among the best 100, where symmetric Hamming keeps 97.7 % (docs/embeddings.md). The dot
/// product is read a byte at a time from 256-entry tables of partial sums, so a vector costs
/// one lookup per 8 dimensions. Without floats it is minus the Hamming distance.
struct BinaryScorer {
    let queryBits: [UInt8]
    /// (bytes, 256): the query's dot product with byte value v's ±1 pattern over its 8 dimensions.
    let tables: [Float]?
    let queryNorm: Double

    init(queryBits: [UInt8], queryFloats: [Float]) {
        self.queryBits = queryBits
        guard queryFloats.count > 0, (queryFloats.count + 7) / 8 == queryBits.count else {
            tables = nil
            queryNorm = 0
            return
        }
        var tables = [Float](repeating: 0, count: queryBits.count * 256)
        for k in 0..<queryBits.count {
            for v in 0..<256 {
                var sum: Float = 0
                for j in 0..<8 where 8 * k + j < queryFloats.count {
                    let q = queryFloats[8 * k + j]
                    sum += (v >> (7 - j)) & 1 == 1 ? q : -q
                }
                tables[k * 256 + v] = sum
            }
        }
        self.tables = tables
        queryNorm = queryFloats.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    /// Higher is closer; nil when the widths differ.
    func score(_ bits: UnsafeRawBufferPointer) -> Double? {
        guard bits.count == queryBits.count else { return nil }
        guard let tables else { return ConversationStore.hamming(queryBits, bits).map { -Double($0) } }
        var sum: Float = 0
        tables.withUnsafeBufferPointer { t in
            for k in 0..<bits.count { sum += t[k * 256 + Int(bits[k])] }
        }
        return Double(sum)
    }

    /// A score as a cosine similarity, for results without stored floats: of the query with the
    /// ±1 vector, or 1 − 2 · Hamming / dimensions.
    func cosine(_ score: Double, dimensions: Int) -> Double {
        guard tables != nil else { return 1 + 2 * score / Double(dimensions) }
        return queryNorm > 0 ? score / (queryNorm * Double(dimensions).squareRoot()) : 0
    }
}

/// The `capacity` smallest distances seen, kept in a max-heap: a scan of n vectors costs
/// O(n log capacity).
struct NearestList {
    let capacity: Int
    private var heap: [(distance: Double, id: Int64)] = []

    init(capacity: Int) { self.capacity = capacity }

    /// Larger distance first; among equal distances the larger id is dropped first.
    private static func above(_ a: (distance: Double, id: Int64), _ b: (distance: Double, id: Int64)) -> Bool {
        a.distance != b.distance ? a.distance > b.distance : a.id > b.id
    }

    mutating func insert(id: Int64, distance: Double) {
        let item = (distance: distance, id: id)
        if heap.count < capacity {
            heap.append(item)
            var i = heap.count - 1
            while i > 0, Self.above(heap[i], heap[(i - 1) / 2]) {
                heap.swapAt(i, (i - 1) / 2)
                i = (i - 1) / 2
            }
            return
        }
        guard capacity > 0, Self.above(heap[0], item) else { return }
        heap[0] = item
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var top = i
            if l < heap.count, Self.above(heap[l], heap[top]) { top = l }
            if r < heap.count, Self.above(heap[r], heap[top]) { top = r }
            if top == i { break }
            heap.swapAt(i, top)
            i = top
        }
    }

    /// Nearest first.
    func sorted() -> [(id: Int64, distance: Double)] {
        heap.sorted { Self.above($1, $0) }.map { (id: $0.id, distance: $0.distance) }
    }
}
