/// A model's vocabulary as the grammar sees it: each token's bytes, arranged in a trie so that
/// the tokens a grammar state allows are found by walking shared prefixes once, pruning a whole
/// subtree at the first byte the grammar refuses. Built once per model.
public final class GrammarVocabulary: Sendable {
    /// Bytes of each token id (empty: the token has no text, e.g. a control token).
    public let pieces: [[UInt8]]
    /// End-of-generation tokens: allowed exactly where the grammar may end.
    public let endOfGeneration: [Int32]
    private let isEndOfGeneration: [Bool]

    // The trie in depth-first order. Node 0 is the root (no byte); the subtree of node i is
    // i ..< subtreeEnd[i]; tokens whose bytes end at node i are tokensByPiece[tokenStart[i] ..< tokenStart[i+1]].
    private let nodeByte: [UInt8]
    private let nodeDepth: [UInt16]
    private let subtreeEnd: [Int32]
    private let tokenStart: [Int32]
    private let tokensByPiece: [Int32]
    /// The longest token, in bytes (the trie's depth).
    public let longestPiece: Int

    /// - Parameters:
    ///   - pieces: the bytes of every token id the model can produce (the logits' length).
    ///   - endOfGeneration: the ids that end generation.
    public init(pieces: [[UInt8]], endOfGeneration: [Int32]) {
        self.pieces = pieces
        var eog = [Bool](repeating: false, count: pieces.count)
        for id in endOfGeneration where id >= 0 && Int(id) < pieces.count { eog[Int(id)] = true }
        isEndOfGeneration = eog
        self.endOfGeneration = endOfGeneration.filter { $0 >= 0 && Int($0) < pieces.count }
        // Text tokens in byte order: each one's trie path shares its longest common prefix
        // with the previous one.
        let ordered = pieces.indices.filter { !pieces[$0].isEmpty && !eog[$0] }.sorted {
            pieces[$0].lexicographicallyPrecedes(pieces[$1])
        }
        var byte: [UInt8] = [0]
        var depth: [UInt16] = [0]
        var end: [Int32] = [0]
        var tokenCounts: [Int32] = [0]
        var byPiece: [Int32] = []
        var open: [Int] = [0]  // the path of the last piece: node per depth
        var previous: [UInt8] = []
        for id in ordered {
            let piece = pieces[id]
            var shared = 0
            while shared < min(piece.count, previous.count) && piece[shared] == previous[shared] { shared += 1 }
            // Close the nodes of the previous path below the shared prefix.
            while open.count > shared + 1 { end[open.removeLast()] = Int32(byte.count) }
            for d in shared..<piece.count {
                open.append(byte.count)
                byte.append(piece[d])
                depth.append(UInt16(min(d + 1, Int(UInt16.max))))
                end.append(0)
                tokenCounts.append(0)
            }
            tokenCounts[open.last!] += 1
            byPiece.append(Int32(id))
            previous = piece
        }
        while let node = open.popLast() { end[node] = Int32(byte.count) }
        var starts = [Int32](repeating: 0, count: byte.count + 1)
        for i in 0..<byte.count { starts[i + 1] = starts[i] + tokenCounts[i] }
        nodeByte = byte
        nodeDepth = depth
        subtreeEnd = end
        tokenStart = starts
        tokensByPiece = byPiece
        longestPiece = Int(depth.max() ?? 0)
    }

    public var count: Int { pieces.count }

    public func isEndOfGeneration(_ id: Int32) -> Bool { id >= 0 && Int(id) < count && isEndOfGeneration[Int(id)] }

    /// Sets the bit of every text token the matcher accepts from `state`.
    func markAllowed(from state: Int32, matcher: GrammarMatcher, into mask: inout [UInt64]) {
        var stateAt = [Int32](repeating: 0, count: longestPiece + 1)
        stateAt[0] = state
        var i = 1
        let n = nodeByte.count
        while i < n {
            let d = Int(nodeDepth[i])
            let s = matcher.next(stateAt[d - 1], byte: nodeByte[i])
            if s == 0 {
                i = Int(subtreeEnd[i])
                continue
            }
            stateAt[d] = s
            for t in tokenStart[i]..<tokenStart[i + 1] {
                let id = Int(tokensByPiece[Int(t)])
                mask[id >> 6] |= 1 << UInt64(id & 63)
            }
            i += 1
        }
    }
}

/// A grammar applied to one generation: which tokens may come next, and the move after each.
public final class TokenConstraint {
    public let matcher: GrammarMatcher
    public let vocabulary: GrammarVocabulary
    /// Full masks by state, for the current cache generation; few are kept, as each is a bit per
    /// token (19 KiB for a 151k vocabulary).
    private var masks: [Int32: [UInt64]] = [:]
    private var masksGeneration = 0
    public static let maxCachedMasks = 32

    public init(grammar: Grammar, vocabulary: GrammarVocabulary) {
        matcher = GrammarMatcher(grammar: grammar)
        self.vocabulary = vocabulary
    }

    /// The text so far is complete and nothing more can follow.
    public var isComplete: Bool { matcher.isComplete }
    /// End of generation is allowed here.
    public var canEnd: Bool { matcher.canEnd }

    /// Whether `token` may come next.
    public func allows(_ token: Int32) -> Bool {
        guard token >= 0, Int(token) < vocabulary.count else { return false }
        if vocabulary.isEndOfGeneration(token) { return matcher.canEnd }
        return matcher.next(matcher.state, token: token, bytes: vocabulary.pieces[Int(token)]) != 0
    }

    /// A bit per token id (`mask[id >> 6] >> (id & 63) & 1`): the tokens that may come next.
    public func allowedMask() throws(GrammarLimitError) -> [UInt64] {
        if masksGeneration != matcher.generation {
            masks.removeAll()
            masksGeneration = matcher.generation
        }
        if let cached = masks[matcher.state] { return cached }
        var mask = [UInt64](repeating: 0, count: (vocabulary.count + 63) / 64)
        vocabulary.markAllowed(from: matcher.state, matcher: matcher, into: &mask)
        if matcher.usesTokenReferences {
            for id in 0..<vocabulary.count where mask[id >> 6] >> UInt64(id & 63) & 1 == 0 {
                if !vocabulary.isEndOfGeneration(Int32(id)), allows(Int32(id)) { mask[id >> 6] |= 1 << UInt64(id & 63) }
            }
        }
        if matcher.canEnd {
            for id in vocabulary.endOfGeneration { mask[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        }
        if matcher.overflowed { throw GrammarLimitError() }
        if masks.count >= Self.maxCachedMasks { masks.removeAll() }
        masks[matcher.state] = mask
        return mask
    }

    /// Moves past `token`; false if it may not come here (the position is then unchanged).
    @discardableResult
    public func accept(_ token: Int32) -> Bool {
        guard token >= 0, Int(token) < vocabulary.count else { return false }
        if vocabulary.isEndOfGeneration(token) { return matcher.canEnd }
        return matcher.accept(token: token, bytes: vocabulary.pieces[Int(token)])
    }

    /// Throws if a check since the last move needed more parser states than allowed.
    public func checkLimits() throws(GrammarLimitError) {
        if matcher.overflowed { throw GrammarLimitError() }
    }
}

/// A grammar needed more than the matcher's bounds allow at one token: more new parser states
/// than `GrammarMatcher.maxNewStatesPerToken`, more stacks at one position than
/// `maxStacksPerState`, or more work than `workLimitPerToken`.
public struct GrammarLimitError: Error, Equatable, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String {
        "the grammar needs more parser work for one token than allowed (over \(GrammarMatcher.maxNewStatesPerToken) new states, \(GrammarMatcher.maxStacksPerState) stacks at once, or \(GrammarMatcher.defaultWorkLimitPerToken) steps); make it less ambiguous"
    }
}
