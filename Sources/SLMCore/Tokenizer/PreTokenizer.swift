/// Which splitting rules a vocabulary's `tokenizer.ggml.pre` selects, and the decode-side flag
/// that llama.cpp ties to the same name.
struct PreTokenizerRules: Sendable, Equatable {
    enum Family: Sendable, Equatable {
        /// The GPT-2 pattern alone.
        case gpt2
        /// Every `\p{N}` on its own first, then the GPT-2 pattern (StarCoder, Refact, SmolLM).
        case digitsThenGPT2
        /// llama.cpp's fallback for BPE files without a `pre`: punctuation runs, the GPT-2
        /// pattern, `\p{N}+` runs, then ASCII digits in threes.
        case llamaDefault
    }

    static let supportedNames = ["smollm", "starcoder", "refact", "gpt-2", "default"]

    let family: Family
    /// llama.cpp's `clean_spaces`: on decode, drop the space before `?!.,` and some contractions.
    /// On for BPE vocabularies unless the pre-tokenizer turns it off (SmolLM does).
    let cleanSpaces: Bool

    init(name: String) throws(TokenizerError) {
        switch name {
        case "smollm": family = .digitsThenGPT2; cleanSpaces = false
        case "starcoder", "refact": family = .digitsThenGPT2; cleanSpaces = true
        case "gpt-2": family = .gpt2; cleanSpaces = true
        case "default": family = .llamaDefault; cleanSpaces = true
        default: throw .unsupportedPreTokenizer(name, supported: Self.supportedNames)
        }
    }
}

/// Splits text into pre-tokens (the "words" BPE runs on), as llama.cpp's `unicode_regex_split`
/// does for the regex lists of the families above. The GPT-2 pattern
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// is hand-written, following llama.cpp's custom splitter (not a regex engine) including its
/// quirks: contractions are lowercase only, and each earlier split (e.g. the digits) bounds the
/// later ones, so the GPT-2 rules see the end of a segment as the end of the text.
///
/// Character classes come from `Unicode.Scalar.Properties`: letter = general category L*,
/// number = N*, whitespace = the White_Space property (llama.cpp's tables are generated from the
/// same Unicode data; only scalars assigned in one Unicode version and not the other can differ).
struct PreTokenizer: Sendable {
    let rules: PreTokenizerRules

    /// Per-scalar class bits.
    private static let letter: UInt8 = 1
    private static let number: UInt8 = 2
    private static let space: UInt8 = 4
    /// `[\p{P}\$\+<=>\^~\|]`, the first split of the llama default rules.
    private static let punct: UInt8 = 8

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
        default:
            break
        }
        switch value {
        case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: bits |= punct  // $ + < = > ^ ~ |
        default: break
        }
        return bits
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
    func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
               into words: inout [Range<Int>], scratch: inout Scalars) {
        Self.decode(bytes, range, into: &scratch)
        let n = scratch.values.count
        guard n > 0 else { return }
        var segments: [Range<Int>] = [0..<n]
        switch rules.family {
        case .gpt2:
            break
        case .digitsThenGPT2:
            segments = Self.isolate(segments, scratch.classes, Self.number, single: true)
        case .llamaDefault:
            segments = Self.isolate(segments, scratch.classes, Self.punct, single: false)
        }
        var pieces: [Range<Int>] = []
        pieces.reserveCapacity(n / 3 + 1)
        for segment in segments {
            Self.gpt2(scratch, segment, into: &pieces)
        }
        if rules.family == .llamaDefault {
            pieces = Self.isolate(pieces, scratch.classes, Self.number, single: false)
            pieces = Self.asciiDigitTriples(pieces, scratch.values)
        }
        for p in pieces {
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
                value = UInt32(lead & 0x1F) << 6 | c1; length = 2
            } else if lead & 0xF0 == 0xE0, let c1 = cont(1), let c2 = cont(2) {
                value = UInt32(lead & 0x0F) << 12 | c1 << 6 | c2; length = 3
            } else if lead & 0xF8 == 0xF0, let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
                value = UInt32(lead & 0x07) << 18 | c1 << 12 | c2 << 6 | c3; length = 4
            }
            s.values.append(value)
            s.classes.append(classify(value))
            i += length
        }
        s.offsets.append(end)
    }

    /// Splits each segment so that scalars of class `bit` stand apart from the rest: one per piece
    /// (`single`, the regex `\p{N}`) or in maximal runs (`X+`). Pieces between them are kept whole.
    private static func isolate(_ segments: [Range<Int>], _ classes: [UInt8], _ bit: UInt8,
                                single: Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(segments.count)
        for segment in segments {
            var start = segment.lowerBound
            var i = start
            while i < segment.upperBound {
                guard classes[i] & bit != 0 else { i += 1; continue }
                if i > start { out.append(start..<i) }
                var j = i + 1
                if !single {
                    while j < segment.upperBound && classes[j] & bit != 0 { j += 1 }
                }
                out.append(i..<j)
                start = j
                i = j
            }
            if start < segment.upperBound { out.append(start..<segment.upperBound) }
        }
        return out
    }

    /// The regex `[0-9][0-9][0-9]`, leftmost matches first, within each segment.
    private static func asciiDigitTriples(_ segments: [Range<Int>], _ values: [UInt32]) -> [Range<Int>] {
        @inline(__always) func isDigit(_ i: Int) -> Bool { values[i] >= 0x30 && values[i] <= 0x39 }
        var out: [Range<Int>] = []
        out.reserveCapacity(segments.count)
        for segment in segments {
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
        return out
    }

    /// The GPT-2 pattern over one segment; positions past the segment count as end of text.
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
                    out.append(pos..<(pos + 2)); pos += 2; continue
                }
                if pos + 2 < end {
                    let n2 = cps[pos + 2]
                    if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {  // re ve ll
                        out.append(pos..<(pos + 3)); pos += 3; continue
                    }
                }
            }

            // An optional leading ' ' joins the run that follows it; the class that decides the
            // rule is that of the scalar after the space (none at the end of the segment).
            let leadingSpace = c == 0x20
            let first = leadingSpace ? pos + 1 : pos
            if first < end {
                let k = cls[first]
                let run: UInt8
                if k & letter != 0 {
                    run = letter            //  ?\p{L}+
                } else if k & number != 0 {
                    run = number            //  ?\p{N}+
                } else if k & space == 0 {
                    run = 0                 //  ?[^\s\p{L}\p{N}]+
                } else {
                    run = space             // whitespace: handled below
                }
                if run != space {
                    var e = first + 1
                    if run == 0 {
                        while e < end && cls[e] & (letter | number | space) == 0 { e += 1 }
                    } else {
                        while e < end && cls[e] & run != 0 { e += 1 }
                    }
                    out.append(pos..<e); pos = e; continue
                }
            }

            var w = 0
            while pos + w < end && cls[pos + w] & space != 0 { w += 1 }
            if w > 1 && pos + w < end {
                // \s+(?!\S): leave the last whitespace to start the next pre-token (" word")
                out.append(pos..<(pos + w - 1)); pos += w - 1
            } else if w > 0 {
                // \s+ (or \s+(?!\S) reaching the end of the segment)
                out.append(pos..<(pos + w)); pos += w
            } else {
                // unreachable for real scalars; one scalar, as llama.cpp does for "no match"
                out.append(pos..<(pos + 1)); pos += 1
            }
        }
    }
}
