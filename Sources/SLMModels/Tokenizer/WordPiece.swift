/// WordPiece, the tokenizer of BERT-family encoders (`tokenizer.ggml.model = "bert"`), as
/// llama.cpp runs it so ids agree with llama.cpp and with Hugging Face's `BertTokenizer`:
///
/// 1. Normalise and split: with accent stripping each scalar becomes the first scalar of its
///    canonical decomposition (é → e) and marks are dropped; control characters, NUL and U+FFFD
///    are dropped; with lower-casing each scalar is lower-cased; whitespace ends a word;
///    punctuation, ASCII symbols and CJK ideographs are words of their own.
/// 2. Each word, with "▁" before it (how llama.cpp's converter marks a word's first piece; the
///    "##" continuation pieces are stored bare), is cut greedily into the longest pieces the
///    vocabulary has, left to right. A word with any position no piece starts from becomes one
///    unknown token.
struct WordPiece: Sendable {
    let tokenIDs: [[UInt8]: Int32]
    /// The longest token text in bytes: no piece is looked for beyond it.
    let longestToken: Int
    let unknown: Int32?
    let lowercase: Bool
    let stripAccents: Bool

    init(vocabulary v: TokenizerVocabulary, tokenIDs: [[UInt8]: Int32], longestToken: Int) {
        self.tokenIDs = tokenIDs
        self.longestToken = longestToken
        unknown = v.unk
        lowercase = v.lowercase
        stripAccents = v.stripAccents
    }

    /// Appends the ids of `text` (no special tokens) to `out`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        var word: [UInt8] = SentencePiece.spaceMark
        func finishWord() {
            if word.count > SentencePiece.spaceMark.count { encodeWord(word, into: &out) }
            word.removeSubrange(SentencePiece.spaceMark.count...)
        }
        var decoder = Unicode.UTF8.ForwardParser()
        var iterator = text.makeIterator()
        loop: while true {
            let scalar: Unicode.Scalar
            switch decoder.parseScalar(from: &iterator) {
            case .valid(let encoded): scalar = Unicode.UTF8.decode(encoded)
            case .error: continue loop  // llama.cpp's U+FFFD, which is dropped
            case .emptyInput: break loop
            }
            let value = stripAccents ? Self.baseScalar(scalar.value) : scalar.value
            let c = Self.classify(value)
            if c.contains(.whitespace) {
                finishWord()
                continue
            }
            if value == 0 || value == 0xFFFD || c.contains(.control) { continue }
            if stripAccents && c.contains(.mark) { continue }
            let mapped = lowercase ? Self.lowercased(value) : value
            let standsAlone = c.contains(.punctuation) || (value < 0x7F && c.contains(.symbol)) || Self.isCJK(value)
            if standsAlone { finishWord() }
            if let s = Unicode.Scalar(mapped) { UTF8.encode(s) { word.append($0) } }
            if standsAlone { finishWord() }
        }
        finishWord()
    }

    /// Greedy longest-match of one word ("▁" + text) into pieces; the whole word is one unknown
    /// token when some position has no piece.
    private func encodeWord(_ word: [UInt8], into out: inout [Int32]) {
        let first = out.count
        var i = 0
        while i < word.count {
            var end = min(word.count, i + longestToken + 1)
            var found: Int32?
            while end > i {
                if let id = tokenIDs[Array(word[i..<end])] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                out.removeSubrange(first...)
                break
            }
            out.append(id)
            i = end
        }
        if out.count == first, let unknown { out.append(unknown) }
    }

    // MARK: - Character classes

    struct Classes: OptionSet {
        let rawValue: UInt8
        static let whitespace = Classes(rawValue: 1)
        static let control = Classes(rawValue: 2)
        static let mark = Classes(rawValue: 4)
        static let punctuation = Classes(rawValue: 8)
        static let symbol = Classes(rawValue: 16)
    }

    /// llama.cpp's flags: whitespace = the White_Space property, control = \p{C} except
    /// unassigned, mark = \p{M}, punctuation = \p{P}, symbol = \p{S}.
    static func classify(_ value: UInt32) -> Classes {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        let p = scalar.properties
        var c: Classes = p.isWhitespace ? .whitespace : []
        switch p.generalCategory {
        case .control, .format, .surrogate, .privateUse: c.insert(.control)
        case .nonspacingMark, .spacingMark, .enclosingMark: c.insert(.mark)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            c.insert(.punctuation)
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: c.insert(.symbol)
        default: break
        }
        return c
    }

    /// The simple lower-case mapping: Swift exposes the full one, whose only multi-scalar case
    /// (U+0130 → "i̇") starts with the simple mapping.
    static func lowercased(_ value: UInt32) -> UInt32 {
        guard value >= 0x80 else { return value >= 0x41 && value <= 0x5A ? value + 32 : value }
        guard let scalar = Unicode.Scalar(value) else { return value }
        return scalar.properties.lowercaseMapping.unicodeScalars.first?.value ?? value
    }

    /// CJK ideographs, the ranges Hugging Face's BERT tokenizer (and llama.cpp after it) splits.
    static func isCJK(_ v: UInt32) -> Bool {
        (v >= 0x4E00 && v <= 0x9FFF) || (v >= 0x3400 && v <= 0x4DBF) || (v >= 0x20000 && v <= 0x2A6DF)
            || (v >= 0x2A700 && v <= 0x2B73F) || (v >= 0x2B740 && v <= 0x2B81F)
            || (v >= 0x2B920 && v <= 0x2CEAF) || (v >= 0xF900 && v <= 0xFAFF) || (v >= 0x2F800 && v <= 0x2FA1F)
    }

    /// The first scalar of `value`'s canonical decomposition (itself when it has none).
    static func baseScalar(_ value: UInt32) -> UInt32 {
        guard value >= 0xC0 else { return value }
        let table = baseRanges
        var lo = 0
        var hi = table.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if table[mid].last < value { lo = mid + 1 } else { hi = mid }
        }
        return lo < table.count && table[lo].start <= value ? table[lo].base : value
    }

    /// `UnicodeBaseScalars.table` parsed once.
    private static let baseRanges: [(start: UInt32, last: UInt32, base: UInt32)] = {
        var ranges: [(start: UInt32, last: UInt32, base: UInt32)] = []
        ranges.reserveCapacity(2048)
        for entry in UnicodeBaseScalars.table.split(separator: ";") {
            let fields = entry.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0, radix: 16) }
            if fields.count == 3 { ranges.append((fields[0], fields[1], fields[2])) }
        }
        return ranges
    }()
}
