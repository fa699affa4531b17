import SLMCompute

/// SentencePiece-style tokenization (`tokenizer.ggml.model = llama`), as llama.cpp's SPM
/// tokenizer does it: spaces become "▁" (U+2581), the text starts as one symbol per UTF-8
/// character, and adjacent symbols are merged greedily, always the pair whose joined text is the
/// vocabulary token with the highest score (ties: the leftmost pair). A symbol left at the end
/// that is not a token falls back to its bytes' `<0xXX>` tokens.
struct SentencePiece: Sendable {
    /// Token text -> id (the last id, for texts that occur twice).
    private let ids: [[UInt8]: Int32]
    private let scores: [Float]
    /// The token of each byte value: `<0xXX>`, else the one-byte text, else none (-1).
    private let byteTokens: [Int32]
    /// Where nothing else applies (a byte with no token at all).
    private let unknown: Int32?

    /// `tokenIDs` is keyed by UTF-8 bytes (see `BPEMerges.init`).
    init(vocabulary v: TokenizerVocabulary, tokenIDs: [[UInt8]: Int32]) {
        ids = tokenIDs
        scores = v.scores
        let hex = Array("0123456789ABCDEF".utf8)
        byteTokens = (0..<256).map { b -> Int32 in
            if let id = tokenIDs[[0x3C, 0x30, 0x78, hex[b >> 4], hex[b & 15], 0x3E]] { return id }
            if let id = tokenIDs[[UInt8(b)]] { return id }
            return -1
        }
        unknown = v.unk
    }

    /// "▁", which stands for a space in token texts.
    static let spaceMark: [UInt8] = [0xE2, 0x96, 0x81]

    /// Working memory, reused across fragments.
    struct Scratch {
        fileprivate var text: [UInt8] = []
        fileprivate var start: [Int32] = []
        fileprivate var length: [Int32] = []
        fileprivate var prev: [Int32] = []
        fileprivate var next: [Int32] = []
        fileprivate var heap = MergeQueue<Bigram>()
    }

    fileprivate struct Bigram: MergeCandidate {
        var score: Float
        var left: Int32
        var right: Int32
        var size: Int32

        /// Pops first: higher score, then the leftmost.
        func popsBefore(_ o: Bigram) -> Bool {
            score != o.score ? score > o.score : left < o.left
        }
    }

    /// Appends the tokens of one raw-text fragment; `prefixSpace` puts a space before it.
    func encode(
        _ raw: UnsafeBufferPointer<UInt8>, prefixSpace: Bool, into out: inout [Int32],
        scratch s: inout Scratch
    ) {
        s.text.removeAll(keepingCapacity: true)
        if prefixSpace { s.text.append(contentsOf: Self.spaceMark) }
        for b in raw {
            if b == 0x20 { s.text.append(contentsOf: Self.spaceMark) } else { s.text.append(b) }
        }
        let n = s.text.count
        guard n > 0 else { return }
        s.start.removeAll(keepingCapacity: true)
        s.length.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        s.heap.removeAll()

        // One symbol per UTF-8 character (by its lead byte, cut short at the end).
        var offset = 0
        while offset < n {
            let lead = s.text[offset]
            let len = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
            let count = min(len, n - offset)
            let index = Int32(s.start.count)
            s.start.append(Int32(offset))
            s.length.append(Int32(count))
            s.prev.append(index - 1)
            offset += count
            s.next.append(offset == n ? -1 : index + 1)
        }

        s.text.withUnsafeBufferPointer { text in
            for i in 1..<s.start.count { consider(Int32(i - 1), Int32(i), text, &s) }
            while let b = s.heap.pop() {
                let l = Int(b.left)
                let r = Int(b.right)
                // Stale: one side was merged away or grew since the pair was queued.
                if s.length[l] == 0 || s.length[r] == 0 || s.length[l] + s.length[r] != b.size { continue }
                s.length[l] += s.length[r]
                s.length[r] = 0
                s.next[l] = s.next[r]
                if s.next[r] >= 0 { s.prev[Int(s.next[r])] = b.left }
                consider(s.prev[l], b.left, text, &s)
                consider(b.left, s.next[l], text, &s)
            }
            var i: Int32 = 0
            while i >= 0 {
                let from = Int(s.start[Int(i)])
                let to = from + Int(s.length[Int(i)])
                let piece = UnsafeBufferPointer(rebasing: text[from..<to])
                if let id = ids[Array(piece)] {
                    out.append(id)
                } else {
                    // Every merge result is a token, so only a single character can get here.
                    for byte in piece {
                        let t = byteTokens[Int(byte)]
                        if t >= 0 { out.append(t) } else if let unknown { out.append(unknown) }
                    }
                }
                i = s.next[Int(i)]
            }
        }
    }

    private func consider(_ left: Int32, _ right: Int32, _ text: UnsafeBufferPointer<UInt8>, _ s: inout Scratch) {
        guard left >= 0, right >= 0 else { return }
        let from = Int(s.start[Int(left)])
        let size = s.length[Int(left)] + s.length[Int(right)]
        guard let id = ids[Array(text[from..<(from + Int(size))])], Int(id) < scores.count else { return }
        s.heap.push(Bigram(score: scores[Int(id)], left: left, right: right, size: size))
    }

    /// A normal token's bytes: its text with "▁" turned back into spaces.
    static func unescape(_ text: String) -> [UInt8] {
        let u = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            if i + 2 < u.count && u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return out
    }
}
