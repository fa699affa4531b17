/// Byte-level BPE: merge ranks and the merge loop over one pre-token.
///
/// Symbols are interned as integers so the hot loop never builds strings. Every string that can
/// appear during merging gets an id: the vocabulary's token texts keep their token ids, and the
/// few strings that are not tokens (a merge part or result missing from the vocabulary, or a
/// byte with no single-character token) get "virtual" ids past the end of the vocabulary. This
/// keeps llama.cpp's string semantics exactly, including its fallback for symbols that end up
/// not being tokens.
struct BPEMerges: Sendable {
    private struct Merge { var rank: Int32; var result: Int32 }

    /// (left id << 32 | right id) -> rank and merged symbol.
    private let table: [UInt64: Merge]
    /// The symbol each byte starts as: the id of its one-character byte-level text.
    private let byteSymbols: [Int32]
    /// Texts of virtual symbols, indexed by `id - vocabularySize`.
    private let virtualTexts: [String]
    /// Token id of each one-byte ASCII text, or -1: llama.cpp's fallback for virtual symbols.
    private let asciiTokens: [Int32]
    let vocabularySize: Int

    /// Splits a merge line at its first space after the first byte, as llama.cpp does.
    static func split(_ line: String) -> (Substring, Substring)? {
        let utf8 = line.utf8
        guard !utf8.isEmpty,
              let space = utf8[utf8.index(after: utf8.startIndex)...].firstIndex(of: 0x20)
        else { return nil }
        return (line[..<space], line[line.index(after: space)...])
    }

    /// `tokenIDs` maps each token text to its id (the last id, for texts that occur twice).
    init(vocabulary: TokenizerVocabulary, tokenIDs: [String: Int32]) throws(TokenizerError) {
        let size = vocabulary.count
        vocabularySize = size
        var ids = tokenIDs
        var virtual: [String] = []
        func intern(_ text: String) -> Int32 {
            if let id = ids[text] { return id }
            let id = Int32(size + virtual.count)
            virtual.append(text)
            ids[text] = id
            return id
        }
        var bytes: [Int32] = []
        for b in 0..<256 { bytes.append(intern(ByteLevel.text(forByte: UInt8(b)))) }
        byteSymbols = bytes

        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(vocabulary.merges.count)
        for (rank, line) in vocabulary.merges.enumerated() {
            guard let (l, r) = Self.split(line) else { throw .badMergeLine(index: rank, line: line) }
            let left = intern(String(l)), right = intern(String(r))
            let result = intern(String(l) + String(r))
            let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            // The first occurrence of a pair keeps its rank (llama.cpp: map emplace).
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), result: result) }
        }
        table = merges
        virtualTexts = virtual
        asciiTokens = (0..<128).map { tokenIDs[String(Character(Unicode.Scalar(UInt8($0))))] ?? -1 }
    }

    /// Working memory for `encode`, reused across words and calls.
    struct Scratch {
        fileprivate var symbols: [Int32] = []
        fileprivate var prev: [Int32] = []
        fileprivate var next: [Int32] = []
        fileprivate var heap: [Candidate] = []
    }

    /// A possible merge of the symbol at `left` with the one at `right`; `order` sorts by rank,
    /// then by position, which is how llama.cpp breaks ties.
    fileprivate struct Candidate {
        var order: UInt64
        var right: Int32
        var leftSymbol: Int32
        var rightSymbol: Int32
        var result: Int32
    }

    /// Appends the tokens of one pre-token (raw bytes) to `out`.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch s: inout Scratch) {
        let n = word.count
        if n == 0 { return }
        if n == 1 {
            emit(byteSymbols[Int(word[0])], into: &out)
            return
        }
        s.symbols.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        s.heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            s.symbols.append(byteSymbols[Int(word[i])])
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 0..<(n - 1) { consider(Int32(i), Int32(i + 1), &s) }

        while let c = pop(&s.heap) {
            let left = Int(c.order & 0xFFFF_FFFF), right = Int(c.right)
            // Skip candidates made stale by an earlier merge (either side changed or vanished).
            guard s.symbols[left] == c.leftSymbol, s.symbols[right] == c.rightSymbol,
                  s.next[left] == c.right else { continue }
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

    private func consider(_ left: Int32, _ right: Int32, _ s: inout Scratch) {
        let l = s.symbols[Int(left)], r = s.symbols[Int(right)]
        let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
        guard let m = table[key] else { return }
        push(Candidate(order: UInt64(UInt32(m.rank)) << 32 | UInt64(UInt32(left)),
                       right: right, leftSymbol: l, rightSymbol: r, result: m.result), &s.heap)
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
        for b in virtualTexts[Int(symbol) - vocabularySize].utf8 where b < 0x80 {
            let t = asciiTokens[Int(b)]
            if t >= 0 { out.append(t) }
        }
    }

    // A binary min-heap on `order`.

    private func push(_ c: Candidate, _ heap: inout [Candidate]) {
        heap.append(c)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent].order <= heap[i].order { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    private func pop(_ heap: inout [Candidate]) -> Candidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && heap[l].order < heap[m].order { m = l }
            if r < n && heap[r].order < heap[m].order { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}
