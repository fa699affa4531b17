import SLMCompute

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Token attributes as llama.cpp derives them from GGUF token types and token texts. These, not
/// the raw types, decide how special tokens are matched in text and rendered.
struct TokenAttributes: OptionSet, Sendable {
    let rawValue: UInt16
    static let unknown = TokenAttributes(rawValue: 1 << 1)
    static let unused = TokenAttributes(rawValue: 1 << 2)
    static let normal = TokenAttributes(rawValue: 1 << 3)
    static let control = TokenAttributes(rawValue: 1 << 4)
    static let userDefined = TokenAttributes(rawValue: 1 << 5)
    static let byte = TokenAttributes(rawValue: 1 << 6)
    /// When matched in text, whitespace just before / after the token is dropped (Phi-3).
    static let lstrip = TokenAttributes(rawValue: 1 << 7)
    static let rstrip = TokenAttributes(rawValue: 1 << 8)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(tokenType: Int32) {
        switch tokenType {
        case TokenizerVocabulary.TokenType.normal: self = .normal
        case TokenizerVocabulary.TokenType.unknown: self = .unknown
        case TokenizerVocabulary.TokenType.control: self = .control
        case TokenizerVocabulary.TokenType.userDefined: self = .userDefined
        case TokenizerVocabulary.TokenType.unused: self = .unused
        case TokenizerVocabulary.TokenType.byte: self = .byte
        default: self = []  // undefined: rendered as nothing, never matched
        }
    }
}

/// One piece of the input after special tokens are cut out: raw text still to be pre-tokenized
/// (a byte range of the input), or a special token already decided.
enum TextFragment: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

/// Cuts special-token texts out of the input before BPE sees it, as llama.cpp's
/// `tokenizer_st_partition` does: candidates are taken longest text first, and each one splits
/// every remaining raw fragment at all its (non-overlapping, leftmost-first) occurrences. So
/// "<|im_start|>" wins over any shorter token text it contains.
///
/// Control and unknown tokens are only matched when the caller asks to parse special tokens;
/// user-defined tokens are matched always (they are ordinary text the model treats as a unit).
struct SpecialTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        var id: Int32
        var bytes: [UInt8]
        var alwaysMatched: Bool
        var lstrip: Bool
        var rstrip: Bool
    }

    /// Longest first; equal lengths by id (llama.cpp leaves that order unspecified).
    private let candidates: [Candidate]

    init(tokens: [String], attributes: [TokenAttributes]) {
        var list: [Candidate] = []
        for (i, attr) in attributes.enumerated()
        where !attr.isDisjoint(with: [.control, .userDefined, .unknown]) {
            let alwaysMatched = attr.isDisjoint(with: [.control, .unknown])
            list.append(
                Candidate(
                    id: Int32(i), bytes: Array(tokens[i].utf8), alwaysMatched: alwaysMatched,
                    lstrip: attr.contains(.lstrip), rstrip: attr.contains(.rstrip)))
        }
        list.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        candidates = list
    }

    var isEmpty: Bool { candidates.isEmpty }

    /// Splits `bytes` into fragments.
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [TextFragment] {
        var fragments: [TextFragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        for candidate in candidates where parseSpecial || candidate.alwaysMatched {
            let needle = candidate.bytes
            if needle.isEmpty { continue }
            var next: [TextFragment] = []
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    next.append(fragment)
                    continue
                }
                var start = range.lowerBound
                while let at = Self.find(needle, in: bytes, start..<range.upperBound) {
                    var leftEnd = at
                    if candidate.lstrip {
                        while leftEnd > start && Self.isSpace(bytes[leftEnd - 1]) { leftEnd -= 1 }
                    }
                    if leftEnd > start { next.append(.text(start..<leftEnd)) }
                    next.append(.token(candidate.id))
                    changed = true
                    start = at + needle.count
                    if candidate.rstrip {
                        while start < range.upperBound && Self.isSpace(bytes[start]) { start += 1 }
                    }
                }
                if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
            }
            if changed { fragments = next }
        }
        return fragments
    }

    /// C's `isspace` in the "C" locale, which llama.cpp uses for the strip attributes.
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }

    /// First occurrence of `needle` in `bytes[range]`. memchr finds candidate first bytes quickly:
    /// this scan runs once per special token over the whole prompt, and some vocabularies have
    /// thousands of special tokens. (Glibc's memmem is a GNU extension Swift does not import.)
    private static func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        guard let base = bytes.baseAddress, range.count >= needle.count else { return nil }
        return needle.withUnsafeBufferPointer { n -> Int? in
            let first = Int32(n[0])
            var i = range.lowerBound
            let last = range.upperBound - n.count
            while i <= last {
                guard let hit = memchr(base + i, first, last - i + 1) else { return nil }
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + at, n.baseAddress!, n.count) == 0 { return at }
                i = at + 1
            }
            return nil
        }
    }
}
