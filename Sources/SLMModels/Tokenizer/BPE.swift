import SLMCompute

/// BPE merge ranks and the merge loop over one pre-token. Byte-level vocabularies (GPT-2 style)
/// start from one symbol per byte; the others (Gemma 4: raw UTF-8 texts with "▁" for spaces)
/// start from one symbol per UTF-8 character and fall back to `<0xXX>` byte tokens.
///
/// Symbols are interned as integers so the hot loop never builds strings. Every string that can
/// appear during merging gets an id: the vocabulary's token texts keep their token ids, and the
/// few strings that are not tokens (a merge part or result missing from the vocabulary, or a
/// byte with no single-character token) get "virtual" ids past the end of the vocabulary. This
/// keeps llama.cpp's string semantics exactly, including its fallback for symbols that end up
/// not being tokens.
struct BPEMerges: Sendable {
    private struct Merge {
        var rank: Int32
        var result: Int32
    }

    /// (left id << 32 | right id) -> rank and merged symbol.
    private let table: [UInt64: Merge]
    /// The symbol each byte starts as: the id of its one-character byte-level text.
    private let byteSymbols: [Int32]
    /// Texts of virtual symbols, indexed by `id - vocabularySize`.
    private let virtualTexts: [[UInt8]]
    /// Token id of each one-byte ASCII text, or -1: llama.cpp's fallback for virtual symbols.
    private let asciiTokens: [Int32]
    let vocabularySize: Int
    /// Whether texts are in the GPT-2 byte alphabet (else raw UTF-8).
    let byteLevel: Bool
    /// Raw UTF-8 only: every interned text -> symbol, to look up the starting characters.
    private let symbolIDs: [[UInt8]: Int32]
    /// Raw UTF-8 only: the `<0xXX>` token of each byte, or -1.
    private let byteTokens: [Int32]

    /// Splits a merge line at its first space after the first byte, as llama.cpp does. Works on
    /// bytes: `String` indices move by whole grapheme clusters, and a space followed by a
    /// combining mark (" ់", " ្ល" in Khmer merges) is one cluster.
    static func split(_ line: String) -> ([UInt8], [UInt8])? {
        let utf8 = Array(line.utf8)
        guard utf8.count > 1, let space = utf8[1...].firstIndex(of: 0x20) else { return nil }
        return (Array(utf8[..<space]), Array(utf8[(space + 1)...]))
    }

    /// `tokenIDs` maps each token text's UTF-8 bytes to its id (the last id, for texts that occur
    /// twice). Bytes, not `String`s: `String` equality is canonical equivalence, which would merge
    /// distinct token texts such as precomposed and decomposed accents.
    init(vocabulary: TokenizerVocabulary, tokenIDs: [[UInt8]: Int32], byteLevel: Bool = true) throws(TokenizerError) {
        let size = vocabulary.count
        vocabularySize = size
        self.byteLevel = byteLevel
        var ids = tokenIDs
        var virtual: [[UInt8]] = []
        func intern(_ text: [UInt8]) -> Int32 {
            if let id = ids[text] { return id }
            let id = Int32(size + virtual.count)
            virtual.append(text)
            ids[text] = id
            return id
        }
        var bytes: [Int32] = []
        if byteLevel {
            for b in 0..<256 { bytes.append(intern(Array(ByteLevel.text(forByte: UInt8(b)).utf8))) }
        }
        byteSymbols = bytes

        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(vocabulary.merges.count)
        for (rank, line) in vocabulary.merges.enumerated() {
            guard let (l, r) = Self.split(line) else { throw .badMergeLine(index: rank, line: line) }
            let left = intern(l)
            let right = intern(r)
            let result = intern(l + r)
            let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            // The first occurrence of a pair keeps its rank (llama.cpp: map emplace).
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), result: result) }
        }
        table = merges
        virtualTexts = virtual
        asciiTokens = (0..<128).map { tokenIDs[[UInt8($0)]] ?? -1 }
        symbolIDs = byteLevel ? [:] : ids
        let hex = Array("0123456789ABCDEF".utf8)
        byteTokens =
            byteLevel
            ? []
            : (0..<256).map { b in
                tokenIDs[[0x3C, 0x30, 0x78, hex[b >> 4], hex[b & 15], 0x3E]] ?? -1
            }
    }

    /// Working memory for `encode`, reused across words and calls.
    struct Scratch {
        fileprivate var symbols: [Int32] = []
        fileprivate var prev: [Int32] = []
        fileprivate var next: [Int32] = []
        fileprivate var heap = MergeQueue<Candidate>()
        /// Byte offset where each starting symbol begins (raw UTF-8 mode).
        fileprivate var starts: [Int32] = []
    }

    /// A possible merge of the symbol at `left` with the one at `right`; `order` sorts by rank,
    /// then by position, which is how llama.cpp breaks ties.
    fileprivate struct Candidate: MergeCandidate {
        var order: UInt64
        var right: Int32
        var leftSymbol: Int32
        var rightSymbol: Int32
        var result: Int32

        func popsBefore(_ other: Candidate) -> Bool { order < other.order }
    }

    /// Appends the tokens of one pre-token (raw bytes) to `out`.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch s: inout Scratch) {
        if !byteLevel { return encodeCharacters(word, into: &out, scratch: &s) }
        let n = word.count
        if n == 0 { return }
        if n == 1 {
            emit(byteSymbols[Int(word[0])], into: &out)
            return
        }
        s.symbols.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        s.heap.removeAll()
        for i in 0..<n {
            s.symbols.append(byteSymbols[Int(word[i])])
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 0..<(n - 1) { consider(Int32(i), Int32(i + 1), &s) }

        while let c = s.heap.pop() {
            let left = Int(c.order & 0xFFFF_FFFF)
            let right = Int(c.right)
            // Skip candidates made stale by an earlier merge (either side changed or vanished).
            guard s.symbols[left] == c.leftSymbol, s.symbols[right] == c.rightSymbol,
                s.next[left] == c.right
            else { continue }
            s.symbols[left] = c.result
            s.symbols[right] = -1
            let after = s.next[right]
            s.next[left] = after
            if after >= 0 { s.prev[Int(after)] = Int32(left) }
            if s.prev[left] >= 0 { consider(s.prev[left], Int32(left), &s) }
            if after >= 0 { consider(Int32(left), after, &s) }
        }

        var i: Int32 = 0
        while i >= 0 {
            emit(s.symbols[Int(i)], into: &out)
            i = s.next[Int(i)]
        }
    }

    /// The merge loop over UTF-8 characters (raw UTF-8 vocabularies). A character that is no
    /// symbol at all gets -2, which merges with nothing.
    private func encodeCharacters(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch s: inout Scratch) {
        let n = word.count
        if n == 0 { return }
        s.symbols.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        s.heap.removeAll()
        s.starts.removeAll(keepingCapacity: true)
        var offset = 0
        while offset < n {
            let lead = word[offset]
            let len = min(lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - offset)
            let text = Array(word[offset..<(offset + len)])
            let index = Int32(s.symbols.count)
            s.symbols.append(symbolIDs[text] ?? -2)
            s.starts.append(Int32(offset))
            s.prev.append(index - 1)
            offset += len
            s.next.append(offset == n ? -1 : index + 1)
        }
        let count = s.symbols.count
        for i in 0..<(count - 1) where s.symbols[i] >= 0 && s.symbols[i + 1] >= 0 {
            consider(Int32(i), Int32(i + 1), &s)
        }
        while let c = s.heap.pop() {
            let left = Int(c.order & 0xFFFF_FFFF)
            let right = Int(c.right)
            guard s.symbols[left] == c.leftSymbol, s.symbols[right] == c.rightSymbol,
                s.next[left] == c.right
            else { continue }
            s.symbols[left] = c.result
            s.symbols[right] = -1
            let after = s.next[right]
            s.next[left] = after
            if after >= 0 { s.prev[Int(after)] = Int32(left) }
            if s.prev[left] >= 0 && s.symbols[Int(s.prev[left])] >= 0 { consider(s.prev[left], Int32(left), &s) }
            if after >= 0 && s.symbols[Int(after)] >= 0 { consider(Int32(left), after, &s) }
        }
        var i: Int32 = 0
        while i >= 0 {
            let symbol = s.symbols[Int(i)]
            let next = s.next[Int(i)]
            if symbol >= 0 && Int(symbol) < vocabularySize {
                out.append(symbol)
            } else {
                // Not a token: its bytes as <0xXX> tokens, as llama.cpp does for such vocabularies.
                let end = next >= 0 ? Int(s.starts[Int(next)]) : n
                for b in word[Int(s.starts[Int(i)])..<end] where byteTokens[Int(b)] >= 0 {
                    out.append(byteTokens[Int(b)])
                }
            }
            i = next
        }
    }

    private func consider(_ left: Int32, _ right: Int32, _ s: inout Scratch) {
        let l = s.symbols[Int(left)]
        let r = s.symbols[Int(right)]
        let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
        guard let m = table[key] else { return }
        s.heap.push(
            Candidate(
                order: UInt64(UInt32(m.rank)) << 32 | UInt64(UInt32(left)),
                right: right, leftSymbol: l, rightSymbol: r, result: m.result))
    }

    /// A symbol that is a token is emitted as is. One that is not (only possible with merges or
    /// bytes missing from the vocabulary) falls back, like llama.cpp, to the one-byte tokens of
    /// its text's ASCII bytes; anything else in it is dropped.
    @inline(__always)
    private func emit(_ symbol: Int32, into out: inout [Int32]) {
        if Int(symbol) < vocabularySize {
            out.append(symbol)
            return
        }
        for b in virtualTexts[Int(symbol) - vocabularySize] where b < 0x80 {
            let t = asciiTokens[Int(b)]
            if t >= 0 { out.append(t) }
        }
    }
}
