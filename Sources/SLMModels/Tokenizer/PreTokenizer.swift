import SLMCompute

/// Which splitting rules a vocabulary's `tokenizer.ggml.pre` selects, and the flags llama.cpp
/// ties to the same name.
struct PreTokenizerRules: Sendable, Equatable {
    /// One pass over the current segments; each pass splits every segment further, and text it
    /// does not match stays as pieces of its own (llama.cpp's `unicode_regex_split`).
    enum Step: Sendable, Equatable {
        /// The GPT-2 pattern (hand-written, see `PreTokenizer.gpt2`).
        case gpt2
        /// The Llama 3 / Qwen 2 pattern: `digits` is the `\p{N}{1,digits}` group size, `marks`
        /// lets `\p{M}` join letters (Qwen 3.5).
        case llama3(digits: Int, marks: Bool)
        /// The GPT-4o pattern (see `PreTokenizer.gpt4o`).
        case gpt4o
        /// Isolates the matches of a simple pattern (see `Pattern`).
        case isolate(Pattern)
        /// `[0-9][0-9][0-9]`.
        case asciiDigitTriples
    }

    /// The single-class regexes the BPE pre-tokenizers use besides the big patterns.
    enum Pattern: Sendable, Equatable {
        /// `[X]`: each matching scalar alone.
        case one(CharClass)
        /// `[X]+`
        case run(CharClass)
        /// `\s?[X]+`: a run, with one whitespace scalar before it joining the match.
        case spaceRun(CharClass)
        /// `\s+$`: the whitespace run that ends the segment.
        case trailingSpace
    }

    enum CharClass: Sendable, Equatable {
        case letter  // \p{L}
        case number  // \p{N}
        case punctuation  // \p{P}
        case llamaPunct  // [\p{P}\$\+<=>\^~\|]
        case falconPunct  // [\p{P}\$\+<=>\^~\|`]
        case newline  // [\r\n]
        case lineFeed  // [\n]
        /// `[一-龥ࠀ-一가-퟿]` (DeepSeek): CJK ideographs, and everything from U+0800 to them.
        case deepseekCJK
        /// DeepSeek LLM's explicit list of cased letters (Latin, Greek, Cyrillic, ...).
        case deepseekLetter
        /// `[!-/:-~！-／：-～‘-‟　-。]` (DeepSeek LLM).
        case deepseekPunct
    }

    static let supportedNames = [
        "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2",
        "gpt-2", "phi-2", "mpt", "olmo", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat",
        "a.x-4.0", "mellum", "exaone4", "default", "falcon",
        "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
        "jina-v5-nano", "dbrx", "smaug-bpe",
        "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "qwen35",
        "deepseek-llm", "deepseek-coder", "gpt-4o", "llama4", "kanana2", "talkie", "gemma4",
    ]

    let steps: [Step]
    /// llama.cpp's `clean_spaces`: on decode, drop the space before `?!.,` and some contractions.
    /// On for BPE vocabularies unless the pre-tokenizer turns it off.
    let cleanSpaces: Bool
    /// llama.cpp's `ignore_merges`: a pre-token that is itself a token is emitted whole, without
    /// running the merges (Llama 3).
    let ignoreMerges: Bool
    /// Whether BOS is added when the file does not say (`tokenizer.ggml.add_bos_token`).
    let addBOSByDefault: Bool

    init(name: String) throws(TokenizerError) {
        var clean = true
        var ignore = false
        var bos = false
        switch name {
        case "smollm", "command-r":
            // "\p{N}", then GPT-2
            steps = [.isolate(.one(.number)), .gpt2]
            clean = false
        case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
            steps = [.isolate(.one(.number)), .gpt2]
        case "gpt-2", "phi-2", "mpt", "olmo", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de",
            "gigachat", "a.x-4.0", "mellum", "exaone4":
            steps = [.gpt2]
        case "default":
            // "[\p{P}\$\+<=>\^~\|]+", GPT-2, "\p{N}+", "[0-9][0-9][0-9]"
            steps = [.isolate(.run(.llamaPunct)), .gpt2, .isolate(.run(.number)), .asciiDigitTriples]
        case "falcon":
            // "[\p{P}\$\+<=>\^~\|`]+", GPT-2, "[0-9][0-9][0-9]"
            steps = [.isolate(.run(.falconPunct)), .gpt2, .asciiDigitTriples]
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
            "jina-v5-nano":
            steps = [.llama3(digits: 3, marks: false)]
            ignore = true
            bos = true
        case "dbrx", "smaug-bpe":
            steps = [.llama3(digits: 3, marks: false)]
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez":
            steps = [.llama3(digits: 1, marks: false)]
            clean = false
        case "stablelm2":
            steps = [.llama3(digits: 1, marks: false)]
        case "qwen35":
            steps = [.llama3(digits: 1, marks: true)]
            clean = false
        case "deepseek-llm":
            // "[\r\n]", "\s?[A-Za-zµÀ-Ö...]+", "\s?[!-/:-~！-／：-～‘-‟　-。]+", "\s+$",
            // "[一-龥ࠀ-一가-퟿]+", "\p{N}+"
            steps = [
                .isolate(.one(.newline)), .isolate(.spaceRun(.deepseekLetter)),
                .isolate(.spaceRun(.deepseekPunct)), .isolate(.trailingSpace),
                .isolate(.run(.deepseekCJK)), .isolate(.run(.number)),
            ]
            clean = false
        case "deepseek-coder":
            // "[\r\n]", "\s?\p{L}+", "\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\p{N}"
            steps = [
                .isolate(.one(.newline)), .isolate(.spaceRun(.letter)),
                .isolate(.spaceRun(.punctuation)), .isolate(.run(.deepseekCJK)),
                .isolate(.one(.number)),
            ]
            clean = false
        case "gpt-4o", "llama4", "kanana2", "talkie":
            steps = [.gpt4o]
            clean = false
        case "gemma4":
            // "[^\n]+|[\n]+" (on text whose spaces are already "▁")
            steps = [.isolate(.run(.lineFeed))]
            bos = true
        default:
            throw .unsupportedPreTokenizer(name, supported: Self.supportedNames)
        }
        cleanSpaces = clean
        ignoreMerges = ignore
        addBOSByDefault = bos
    }
}

/// Splits text into pre-tokens (the "words" BPE runs on), as llama.cpp's `unicode_regex_split`
/// does for the regex lists of the rules above. No regex engine: each pattern is hand-written,
/// following llama.cpp's custom splitters (and, for the patterns it hands to `std::regex`, the
/// ECMAScript leftmost-match semantics), including their quirks: each earlier split bounds the
/// later ones, so a pattern sees the end of a segment as the end of the text.
///
/// Character classes come from `Unicode.Scalar.Properties`: letter = general category L*,
/// number = N*, punctuation = P*, mark = M*, whitespace = the White_Space property (llama.cpp's
/// tables are generated from the same Unicode data; only scalars assigned in one Unicode version
/// and not the other can differ).
struct PreTokenizer: Sendable {
    let rules: PreTokenizerRules

    /// Per-scalar class bits.
    private static let letter: UInt8 = 1
    private static let number: UInt8 = 2
    private static let space: UInt8 = 4
    private static let punct: UInt8 = 8
    private static let mark: UInt8 = 16
    /// Any assigned scalar (llama.cpp's "has flags"); unassigned ones match no class at all.
    private static let defined: UInt8 = 32

    /// Class bits of the 128 ASCII scalars, looked up instead of computed: most text is ASCII.
    private static let asciiClasses: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    private static func classify(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return 0 }
        let p = scalar.properties
        var bits: UInt8 = p.isWhitespace ? space : 0
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            bits |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            bits |= number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            bits |= punct
        case .nonspacingMark, .spacingMark, .enclosingMark:
            bits |= mark
        case .unassigned:
            return bits
        default:
            break
        }
        return bits | defined
    }

    /// The scalars of one piece of text with their classes and UTF-8 offsets.
    struct Scalars {
        var values: [UInt32] = []
        var classes: [UInt8] = []
        /// `offsets[i]` is where scalar i starts; one extra entry holds the end.
        var offsets: [Int] = []
    }

    /// Appends to `words` the byte ranges of the pre-tokens of `bytes[range]`.
    /// `scratch` is reused across calls to avoid reallocating.
    func split(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
        into words: inout [Range<Int>], scratch: inout Scalars
    ) {
        Self.decode(bytes, range, into: &scratch)
        let n = scratch.values.count
        guard n > 0 else { return }
        var segments: [Range<Int>] = [0..<n]
        for step in rules.steps {
            var pieces: [Range<Int>] = []
            pieces.reserveCapacity(max(segments.count, n / 3 + 1))
            switch step {
            case .gpt2:
                for s in segments { Self.gpt2(scratch, s, into: &pieces) }
            case .llama3(let digits, let marks):
                for s in segments { Self.llama3(scratch, s, digits: digits, marks: marks, into: &pieces) }
            case .gpt4o:
                for s in segments { Self.gpt4o(scratch, s, into: &pieces) }
            case .isolate(let pattern):
                for s in segments { Self.isolate(pattern, scratch, s, into: &pieces) }
            case .asciiDigitTriples:
                for s in segments { Self.asciiDigitTriples(scratch.values, s, into: &pieces) }
            }
            segments = pieces
        }
        for p in segments {
            words.append(scratch.offsets[p.lowerBound]..<scratch.offsets[p.upperBound])
        }
    }

    /// Decodes UTF-8 (valid when it comes from a `String`; a stray byte becomes U+FFFD, one byte
    /// long, as in llama.cpp) and classifies each scalar.
    private static func decode(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into s: inout Scalars) {
        s.values.removeAll(keepingCapacity: true)
        s.classes.removeAll(keepingCapacity: true)
        s.offsets.removeAll(keepingCapacity: true)
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let lead = b[i]
            s.offsets.append(i)
            if lead < 0x80 {
                s.values.append(UInt32(lead))
                s.classes.append(asciiClasses[Int(lead)])
                i += 1
                continue
            }
            var value: UInt32 = 0xFFFD
            var length = 1
            func cont(_ k: Int) -> UInt32? {
                i + k < end && b[i + k] & 0xC0 == 0x80 ? UInt32(b[i + k] & 0x3F) : nil
            }
            if lead & 0xE0 == 0xC0, let c1 = cont(1) {
                value = UInt32(lead & 0x1F) << 6 | c1
                length = 2
            } else if lead & 0xF0 == 0xE0, let c1 = cont(1), let c2 = cont(2) {
                value = UInt32(lead & 0x0F) << 12 | c1 << 6 | c2
                length = 3
            } else if lead & 0xF8 == 0xF0, let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
                value = UInt32(lead & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
                length = 4
            }
            s.values.append(value)
            s.classes.append(classify(value))
            i += length
        }
        s.offsets.append(end)
    }

    // MARK: - Simple patterns

    /// Whether the scalar `v` (with class bits `k`) is in `c`. For the classes llama.cpp matches
    /// with `std::regex` on its original text (the explicit DeepSeek lists), non-ASCII whitespace
    /// never matches: llama.cpp replaces it with U+000B before matching.
    @inline(__always)
    private static func contains(_ c: PreTokenizerRules.CharClass, _ v: UInt32, _ k: UInt8) -> Bool {
        switch c {
        case .letter: return k & letter != 0
        case .number: return k & number != 0
        case .punctuation: return k & punct != 0
        case .llamaPunct, .falconPunct:
            if k & punct != 0 { return true }
            switch v {
            case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true  // $ + < = > ^ ~ |
            case 0x60: return c == .falconPunct  // `
            default: return false
            }
        case .newline: return v == 0x0A || v == 0x0D
        case .lineFeed: return v == 0x0A
        case .deepseekCJK:
            return (0x4E00...0x9FA5).contains(v) || (0x0800...0x4E00).contains(v) || (0xAC00...0xD7FF).contains(v)
        case .deepseekLetter:
            return inRanges(v, deepseekLetters)
        case .deepseekPunct:
            if v >= 0x80 && k & space != 0 { return false }
            return (0x21...0x2F).contains(v) || (0x3A...0x7E).contains(v) || (0xFF01...0xFF0F).contains(v)
                || (0xFF1A...0xFF5E).contains(v) || (0x2018...0x201F).contains(v) || (0x3000...0x3002).contains(v)
        }
    }

    private static func inRanges(_ v: UInt32, _ ranges: [ClosedRange<UInt32>]) -> Bool {
        var lo = 0
        var hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].contains(v)
    }

    /// The letters DeepSeek LLM's pattern lists, sorted.
    private static let deepseekLetters: [ClosedRange<UInt32>] = [
        0x41...0x5A, 0x61...0x7A, 0xB5...0xB5, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x1BA, 0x1BC...0x1BF,
        0x1C4...0x293, 0x295...0x2AF, 0x370...0x373, 0x376...0x377, 0x37B...0x37D, 0x37F...0x37F,
        0x386...0x386, 0x388...0x38A, 0x38C...0x38C, 0x38E...0x3A1, 0x3A3...0x3F5, 0x3F7...0x481,
        0x48A...0x52F, 0x531...0x556, 0x10A0...0x10C5, 0x13A0...0x13F5, 0x13F8...0x13FD,
        0x1C90...0x1CBA, 0x1CBD...0x1CBF, 0x1D00...0x1D2B, 0x1D6B...0x1D77, 0x1D79...0x1D9A,
        0x1E00...0x1F15, 0x1F18...0x1F1D, 0x1F20...0x1F45, 0x1F48...0x1F4D, 0x1F50...0x1F57,
        0x1F59...0x1F59, 0x1F5B...0x1F5B, 0x1F5D...0x1F5D, 0x1F5F...0x1F7D, 0x1F80...0x1FB4,
        0x1FB6...0x1FBC, 0x1FBE...0x1FBE, 0x1FC2...0x1FC4, 0x1FC6...0x1FCC, 0x1FD0...0x1FD3,
        0x1FD6...0x1FDB, 0x1FE0...0x1FEC, 0x1FF2...0x1FF4, 0x1FF6...0x1FFC, 0x2102...0x2102,
        0x2107...0x2107, 0x210A...0x2113, 0x2115...0x2115, 0x2119...0x211D, 0x2124...0x2124,
        0x2126...0x2126, 0x2128...0x2128, 0x212A...0x212D, 0x212F...0x2134, 0x2139...0x2139,
        0x213C...0x213F, 0x2145...0x2149, 0x214E...0x214E, 0x2183...0x2184, 0x2C00...0x2C7B,
        0x2C7E...0x2CE4, 0x2CEB...0x2CEE, 0x2CF2...0x2CF3, 0xA640...0xA66D, 0xA680...0xA69B,
        0xA722...0xA76F, 0xA771...0xA787, 0xA78B...0xA78E, 0xAB70...0xABBF, 0xFB00...0xFB06,
        0xFB13...0xFB17, 0xFF21...0xFF3A, 0xFF41...0xFF5A, 0x10400...0x1044F, 0x104B0...0x104D3,
        0x104D8...0x104FB, 0x10C80...0x10CB2, 0x10CC0...0x10CF2, 0x118A0...0x118DF, 0x1E900...0x1E943,
    ]

    /// Splits one segment at the leftmost non-overlapping matches of `pattern`; the text between
    /// matches stays as pieces of its own.
    private static func isolate(
        _ pattern: PreTokenizerRules.Pattern, _ s: Scalars, _ segment: Range<Int>,
        into out: inout [Range<Int>]
    ) {
        let end = segment.upperBound
        let v = s.values
        let k = s.classes
        @inline(__always) func isSpace(_ i: Int) -> Bool { k[i] & space != 0 }
        var start = segment.lowerBound
        var i = start
        @inline(__always) func emit(_ m: Range<Int>) {
            if m.lowerBound > start { out.append(start..<m.lowerBound) }
            out.append(m)
            start = m.upperBound
            i = m.upperBound
        }
        switch pattern {
        case .one(let c):
            while i < end {
                if contains(c, v[i], k[i]) { emit(i..<(i + 1)) } else { i += 1 }
            }
        case .run(let c):
            while i < end {
                guard contains(c, v[i], k[i]) else {
                    i += 1
                    continue
                }
                var j = i + 1
                while j < end && contains(c, v[j], k[j]) { j += 1 }
                emit(i..<j)
            }
        case .spaceRun(let c):
            while i < end {
                var first = i
                if isSpace(i) && i + 1 < end && contains(c, v[i + 1], k[i + 1]) {
                    first = i + 1  // \s joins the run after it
                } else if !contains(c, v[i], k[i]) {
                    i += 1
                    continue
                }
                var j = first + 1
                while j < end && contains(c, v[j], k[j]) { j += 1 }
                emit(i..<j)
            }
        case .trailingSpace:
            var j = end
            while j > start && isSpace(j - 1) { j -= 1 }
            if j < end { emit(j..<end) }
        }
        if start < end { out.append(start..<end) }
    }

    /// The regex `[0-9][0-9][0-9]`, leftmost matches first, within one segment.
    private static func asciiDigitTriples(_ values: [UInt32], _ segment: Range<Int>, into out: inout [Range<Int>]) {
        @inline(__always) func isDigit(_ i: Int) -> Bool { values[i] >= 0x30 && values[i] <= 0x39 }
        var start = segment.lowerBound
        var i = start
        while i + 3 <= segment.upperBound {
            if isDigit(i) && isDigit(i + 1) && isDigit(i + 2) {
                if i > start { out.append(start..<i) }
                out.append(i..<(i + 3))
                i += 3
                start = i
            } else {
                i += 1
            }
        }
        if start < segment.upperBound { out.append(start..<segment.upperBound) }
    }

    // MARK: - GPT-2

    /// The GPT-2 pattern over one segment; positions past the segment count as end of text:
    ///
    ///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    ///
    /// Contractions are lowercase only.
    private static func gpt2(_ s: Scalars, _ segment: Range<Int>, into out: inout [Range<Int>]) {
        let end = segment.upperBound
        let cps = s.values
        let cls = s.classes
        var pos = segment.lowerBound
        while pos < end {
            let c = cps[pos]

            // 's|'t|'re|'ve|'m|'ll|'d  (lowercase only, like the original pattern)
            if c == 0x27, pos + 1 < end {  // '
                let n1 = cps[pos + 1]
                if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {  // s t m d
                    out.append(pos..<(pos + 2))
                    pos += 2
                    continue
                }
                if pos + 2 < end {
                    let n2 = cps[pos + 2]
                    if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {  // re ve ll
                        out.append(pos..<(pos + 3))
                        pos += 3
                        continue
                    }
                }
            }

            // An optional leading ' ' joins the run that follows it; the class that decides the
            // rule is that of the scalar after the space (none at the end of the segment).
            let leadingSpace = c == 0x20
            let first = leadingSpace ? pos + 1 : pos
            if first < end {
                let k = cls[first]
                if k & letter != 0 || k & number != 0 {
                    //  ?\p{L}+  and  ?\p{N}+
                    let run = k & letter != 0 ? letter : number
                    var e = first + 1
                    while e < end && cls[e] & run != 0 { e += 1 }
                    out.append(pos..<e)
                    pos = e
                    continue
                }
                if k & (letter | number | space) == 0 && k & defined != 0 {
                    //  ?[^\s\p{L}\p{N}]+  (unassigned scalars match nothing)
                    var e = first + 1
                    while e < end && cls[e] & (letter | number | space) == 0 && cls[e] & defined != 0 { e += 1 }
                    out.append(pos..<e)
                    pos = e
                    continue
                }
            }

            var w = 0
            while pos + w < end && cls[pos + w] & space != 0 { w += 1 }
            if w > 1 && pos + w < end {
                // \s+(?!\S): leave the last whitespace to start the next pre-token (" word")
                out.append(pos..<(pos + w - 1))
                pos += w - 1
            } else if w > 0 {
                // \s+ (or \s+(?!\S) reaching the end of the segment)
                out.append(pos..<(pos + w))
                pos += w
            } else {
                // no rule matches: one scalar, as llama.cpp does
                out.append(pos..<(pos + 1))
                pos += 1
            }
        }
    }

    // MARK: - Llama 3 / Qwen 2

    /// The Llama 3 pattern over one segment (Qwen 2 with `digits` 1, Qwen 3.5 also with `marks`):
    ///
    ///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
    ///     | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    ///
    /// With `marks`, `[\p{L}\p{M}]+` replaces `\p{L}+` and `\p{M}` joins the excluded classes of
    /// the punctuation rule.
    private static func llama3(
        _ s: Scalars, _ segment: Range<Int>, digits: Int, marks: Bool,
        into out: inout [Range<Int>]
    ) {
        let end = segment.upperBound
        let cps = s.values
        let cls = s.classes
        let word: UInt8 = marks ? letter | mark : letter
        @inline(__always) func bits(_ i: Int) -> UInt8 { i < end ? cls[i] : 0 }
        @inline(__always) func lower(_ v: UInt32) -> UInt32 { v >= 0x41 && v <= 0x5A ? v + 0x20 : v }
        var pos = segment.lowerBound
        while pos < end {
            let c = cps[pos]
            let k = cls[pos]

            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c == 0x27, pos + 1 < end {
                let n1 = lower(cps[pos + 1])
                if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {
                    out.append(pos..<(pos + 2))
                    pos += 2
                    continue
                }
                if pos + 2 < end {
                    let n2 = lower(cps[pos + 2])
                    if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
                        out.append(pos..<(pos + 3))
                        pos += 3
                        continue
                    }
                }
            }

            // [^\r\n\p{L}\p{N}]?\p{L}+ : any one scalar but CR, LF or a digit may lead a word
            if !(c == 0x0D || c == 0x0A || k & number != 0) && (k & word != 0 || bits(pos + 1) & word != 0) {
                var e = pos + 1
                while bits(e) & word != 0 { e += 1 }
                out.append(pos..<e)
                pos = e
                continue
            }

            // \p{N}{1,3} (or \p{N})
            if k & number != 0 {
                var e = pos + 1
                while e < end && e - pos < digits && cls[e] & number != 0 { e += 1 }
                out.append(pos..<e)
                pos = e
                continue
            }

            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            let excluded = space | number | word
            let k2 = c == 0x20 ? bits(pos + 1) : k
            if k2 & excluded == 0 && k2 & defined != 0 && k & defined != 0 {
                var e = c == 0x20 ? pos + 2 : pos + 1
                while bits(e) & excluded == 0 && bits(e) & defined != 0 { e += 1 }
                while e < end && (cps[e] == 0x0D || cps[e] == 0x0A) { e += 1 }
                out.append(pos..<e)
                pos = e
                continue
            }

            var w = 0
            var lastNewline = -1
            while pos + w < end && cls[pos + w] & space != 0 {
                let v = cps[pos + w]
                if v == 0x0D || v == 0x0A { lastNewline = pos + w + 1 }
                w += 1
            }
            if lastNewline >= 0 {
                // \s*[\r\n]+
                out.append(pos..<lastNewline)
                pos = lastNewline
            } else if w > 1 && pos + w < end {
                // \s+(?!\S)
                out.append(pos..<(pos + w - 1))
                pos += w - 1
            } else if w > 0 {
                // \s+
                out.append(pos..<(pos + w))
                pos += w
            } else {
                // no rule matches: one scalar
                out.append(pos..<(pos + 1))
                pos += 1
            }
        }
    }

    // MARK: - GPT-4o

    /// The GPT-4o (o200k) pattern over one segment, which llama.cpp runs through `std::regex`:
    ///
    ///     [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
    ///     |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
    ///     |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
    ///
    /// llama.cpp rewrites the case classes as "a letter that is not a-z" (upper) and "a letter
    /// that is not A-Z" (lower), so every non-ASCII letter is both, and marks are neither. The
    /// first alternative backtracks: the upper run gives back scalars until a lower one follows.
    private static func gpt4o(_ s: Scalars, _ segment: Range<Int>, into out: inout [Range<Int>]) {
        let end = segment.upperBound
        let cps = s.values
        let cls = s.classes
        @inline(__always) func isLetter(_ i: Int) -> Bool { i < end && cls[i] & letter != 0 }
        @inline(__always) func isUpper(_ i: Int) -> Bool { isLetter(i) && !(cps[i] >= 0x61 && cps[i] <= 0x7A) }
        @inline(__always) func isLower(_ i: Int) -> Bool { isLetter(i) && !(cps[i] >= 0x41 && cps[i] <= 0x5A) }
        @inline(__always) func lower(_ i: Int) -> UInt32 {
            guard i < end else { return 0 }
            let v = cps[i]
            return v >= 0x41 && v <= 0x5A ? v + 0x20 : v
        }
        /// (?i:'s|'t|'re|'ve|'m|'ll|'d)? after a word ending at `e`.
        func contraction(_ e: Int) -> Int {
            guard e < end, cps[e] == 0x27 else { return e }
            let n1 = lower(e + 1)
            let n2 = lower(e + 2)
            if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 { return e + 2 }
            if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) { return e + 3 }
            return e
        }
        var pos = segment.lowerBound
        while pos < end {
            let c = cps[pos]
            let k = cls[pos]

            // The two word alternatives, with or without one leading non-letter, non-digit,
            // non-newline scalar.
            let q = k & (letter | number) == 0 && c != 0x0D && c != 0x0A ? pos + 1 : pos
            if isLetter(q) {
                var u = 0
                while isUpper(q + u) { u += 1 }
                var e = -1
                // [upper]*[lower]+ : give back upper scalars until a lower one starts the rest.
                var back = u
                while back >= 0 {
                    if isLower(q + back) {
                        e = q + back
                        while isLower(e) { e += 1 }
                        break
                    }
                    back -= 1
                }
                // [upper]+[lower]*
                if e < 0 && u > 0 {
                    e = q + u
                    while isLower(e) { e += 1 }
                }
                if e >= 0 {
                    let stop = contraction(e)
                    out.append(pos..<stop)
                    pos = stop
                    continue
                }
            }

            // \p{N}{1,3}
            if k & number != 0 {
                var e = pos + 1
                while e < end && e - pos < 3 && cls[e] & number != 0 { e += 1 }
                out.append(pos..<e)
                pos = e
                continue
            }

            //  ?[^\s\p{L}\p{N}]+[\r\n/]*  (any other scalar, assigned or not)
            let other = space | letter | number
            let first = c == 0x20 && pos + 1 < end && cls[pos + 1] & other == 0 ? pos + 1 : pos
            if cls[first] & other == 0 {
                var e = first + 1
                while e < end && cls[e] & other == 0 { e += 1 }
                while e < end && (cps[e] == 0x0D || cps[e] == 0x0A || cps[e] == 0x2F) { e += 1 }
                out.append(pos..<e)
                pos = e
                continue
            }

            var w = 0
            var lastNewline = -1
            while pos + w < end && cls[pos + w] & space != 0 {
                let v = cps[pos + w]
                if v == 0x0D || v == 0x0A { lastNewline = pos + w + 1 }
                w += 1
            }
            if lastNewline >= 0 {
                // \s*[\r\n]+
                out.append(pos..<lastNewline)
                pos = lastNewline
            } else if w > 1 && pos + w < end {
                // \s+(?!\S)
                out.append(pos..<(pos + w - 1))
                pos += w - 1
            } else {
                // \s+ (every scalar is matched by one of the rules)
                let e = pos + max(w, 1)
                out.append(pos..<e)
                pos = e
            }
        }
    }
}
