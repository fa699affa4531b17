/// WordPiece, the tokenizer of BERT-family encoders (`tokenizer.ggml.model = "bert"`), as Hugging
/// Face's `BertTokenizer` runs it (the reference of llama.cpp's `ggml-vocab-bert-*` test vectors):
///
/// 1. Normalise and split: control characters, NUL and U+FFFD are dropped; with accent
///    stripping each scalar is decomposed (NFD) and the nonspacing marks are dropped (é → e);
///    with lower-casing each scalar is lower-cased; whitespace ends a word; punctuation, ASCII
///    symbols and CJK ideographs are words of their own.
/// 2. Each word, with "▁" before it (how llama.cpp's converter marks a word's first piece; the
///    "##" continuation pieces are stored bare), is cut greedily into the longest pieces the
///    vocabulary has, left to right. A word with a position no piece starts from, or longer
///    than `maxWordScalars`, becomes one unknown token.
///
/// llama.cpp differs on two points, where it departs from the tokenizer the model was trained
/// with: it keeps only the first scalar of a decomposition (a Hangul syllable keeps its leading
/// consonant only) and drops spacing marks too, and it has no word length limit.
struct WordPiece: Sendable {
    /// Hugging Face's `max_input_chars_per_word`.
    static let maxWordScalars = 100

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
        var wordScalars = 0
        func finishWord() {
            if wordScalars > 0 { encodeWord(word, scalars: wordScalars, into: &out) }
            word.removeSubrange(SentencePiece.spaceMark.count...)
            wordScalars = 0
        }
        func add(_ value: UInt32) {
            let c = Self.classify(value)
            if c.contains(.whitespace) {
                finishWord()
                return
            }
            if value == 0 || value == 0xFFFD || c.contains(.control) { return }
            if stripAccents && c.contains(.nonspacingMark) { return }
            let standsAlone = c.contains(.punctuation) || (value < 0x7F && c.contains(.symbol)) || Self.isCJK(value)
            if standsAlone { finishWord() }
            if lowercase, value >= 0x80, let scalar = Unicode.Scalar(value) {
                for lower in scalar.properties.lowercaseMapping.unicodeScalars {
                    UTF8.encode(lower) { word.append($0) }
                    wordScalars += 1
                }
            } else if let scalar = Unicode.Scalar(lowercase && value >= 0x41 && value <= 0x5A ? value + 32 : value) {
                UTF8.encode(scalar) { word.append($0) }
                wordScalars += 1
            }
            if standsAlone { finishWord() }
        }
        var decoder = Unicode.UTF8.ForwardParser()
        var iterator = text.makeIterator()
        loop: while true {
            let scalar: Unicode.Scalar
            switch decoder.parseScalar(from: &iterator) {
            case .valid(let encoded): scalar = Unicode.UTF8.decode(encoded)
            case .error: continue loop  // U+FFFD, which is dropped
            case .emptyInput: break loop
            }
            if stripAccents {
                Self.decompose(scalar.value, add)
            } else {
                add(scalar.value)
            }
        }
        finishWord()
    }

    /// Greedy longest-match of one word ("▁" + text) into pieces; the whole word is one unknown
    /// token when some position has no piece.
    private func encodeWord(_ word: [UInt8], scalars: Int, into out: inout [Int32]) {
        let first = out.count
        if scalars > Self.maxWordScalars {
            if let unknown { out.append(unknown) }
            return
        }
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
        static let nonspacingMark = Classes(rawValue: 4)
        static let punctuation = Classes(rawValue: 8)
        static let symbol = Classes(rawValue: 16)
    }

    /// whitespace = the White_Space property, control = \p{C} except unassigned, punctuation =
    /// \p{P}, symbol = \p{S} (ASCII symbols count as punctuation, as in Hugging Face).
    static func classify(_ value: UInt32) -> Classes {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        let p = scalar.properties
        var c: Classes = p.isWhitespace ? .whitespace : []
        switch p.generalCategory {
        case .control, .format, .surrogate, .privateUse: c.insert(.control)
        case .nonspacingMark: c.insert(.nonspacingMark)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            c.insert(.punctuation)
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: c.insert(.symbol)
        default: break
        }
        return c
    }

    /// CJK ideographs, the ranges Hugging Face's BERT tokenizer (and llama.cpp after it) splits.
    static func isCJK(_ v: UInt32) -> Bool {
        (v >= 0x4E00 && v <= 0x9FFF) || (v >= 0x3400 && v <= 0x4DBF) || (v >= 0x20000 && v <= 0x2A6DF)
            || (v >= 0x2A700 && v <= 0x2B73F) || (v >= 0x2B740 && v <= 0x2B81F)
            || (v >= 0x2B920 && v <= 0x2CEAF) || (v >= 0xF900 && v <= 0xFAFF) || (v >= 0x2F800 && v <= 0x2FA1F)
    }

    /// Calls `body` with each scalar of `value`'s canonical decomposition (just `value` when it
    /// has none). Hangul syllables decompose by the Unicode algorithm, the rest by the table.
    static func decompose(_ value: UInt32, _ body: (UInt32) -> Void) {
        if value < 0xC0 { return body(value) }
        let hangulBase: UInt32 = 0xAC00
        if value >= hangulBase && value < hangulBase + 11172 {
            let index = value - hangulBase
            body(0x1100 + index / 588)  // leading consonant
            body(0x1161 + (index % 588) / 28)  // vowel
            if index % 28 != 0 { body(0x11A7 + index % 28) }  // trailing consonant
            return
        }
        guard let parts = decompositions[value] else { return body(value) }
        for part in parts { body(part) }
    }

    /// `UnicodeDecompositions.table` parsed once.
    private static let decompositions: [UInt32: [UInt32]] = {
        var table: [UInt32: [UInt32]] = [:]
        table.reserveCapacity(2100)
        for entry in UnicodeDecompositions.table.split(separator: ";") {
            let fields = entry.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0, radix: 16) }
            if fields.count >= 2 { table[fields[0]] = Array(fields.dropFirst()) }
        }
        return table
    }()
}
