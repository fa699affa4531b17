import SLMCompute

/// Turns generated tokens into text one token at a time without ever emitting half a character.
///
/// A byte-level token can end in the middle of a multi-byte UTF-8 sequence (an emoji is often two
/// or three tokens). `push` returns the text that is complete so far and keeps the bytes of a
/// trailing sequence that may still be completed by the next token; `finish` flushes what is left,
/// with U+FFFD for a sequence that never completed. Bytes that can never be valid (a stray
/// continuation byte, a sequence broken by the next token) become U+FFFD right away.
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    /// Whether control tokens are rendered as their text (see `Tokenizer.piece`).
    public let special: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, special: Bool = false) {
        self.tokenizer = tokenizer
        self.special = special
    }

    /// Bytes waiting for the rest of their character.
    public var pendingByteCount: Int { pending.count }

    /// Feeds one token; returns the newly completed text (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        pending.append(contentsOf: tokenizer.piece(id, special: special))
        let keep = Self.incompleteSuffixLength(pending)
        if keep == pending.count { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Returns whatever is still buffered, incomplete sequences replaced by U+FFFD, and resets.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the trailing bytes that are a proper prefix of a valid UTF-8 sequence, i.e. bytes
    /// that the next token could still complete; 0 when the buffer ends on a whole character.
    static func incompleteSuffixLength(_ b: [UInt8]) -> Int {
        // A prefix is at most 3 bytes: a lead byte and up to 2 continuation bytes.
        var k = 0
        while k < 3 && k < b.count && b[b.count - 1 - k] & 0xC0 == 0x80 { k += 1 }
        guard k < b.count else { return 0 }
        let lead = b[b.count - 1 - k]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return 0  // ASCII, or a byte no valid sequence starts with
        }
        guard k + 1 < need else { return 0 }  // complete (or too long: not ours to hold)
        // The second byte of some sequences has a narrower range (no overlongs, no surrogates,
        // nothing past U+10FFFF); a prefix that breaks it can never become valid.
        if k >= 1 {
            let second = b[b.count - k]
            switch lead {
            case 0xE0: if second < 0xA0 { return 0 }
            case 0xED: if second > 0x9F { return 0 }
            case 0xF0: if second < 0x90 { return 0 }
            case 0xF4: if second > 0x8F { return 0 }
            default: break
            }
        }
        return k + 1
    }
}
