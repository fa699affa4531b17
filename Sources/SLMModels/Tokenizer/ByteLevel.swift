import SLMCompute

/// GPT-2's reversible map between the 256 byte values and 256 printable Unicode scalars.
///
/// Byte-level BPE vocabularies store token texts in this alphabet so that every token is a
/// printable string: bytes that are already visible Latin-1 characters map to themselves, the
/// other 68 (controls, space, DEL, NBSP, soft hyphen, ...) map in byte order to U+0100, U+0101, ...
/// So a space is "Ġ" (U+0120) and a newline "Ċ" (U+010A).
enum ByteLevel {
    /// The scalar that stands for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `scalarForByte`, indexed by scalar value; -1 for scalars outside the alphabet.
    /// The alphabet's largest scalar is U+0143, so a small table covers it.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for byte in 0..<256 {
            table[Int(scalarForByte[byte].value)] = Int16(byte)
        }
        return table
    }()

    /// The bytes GPT-2 kept as themselves: '!'...'~', '¡'...'¬', '®'...'ÿ'.
    private static func isPrintable(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The one-character token text that stands for `byte`.
    static func text(forByte byte: UInt8) -> String {
        String(Character(scalarForByte[Int(byte)]))
    }

    /// Encodes raw bytes into the alphabet (one scalar per byte).
    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// Decodes a token text back to bytes. A scalar outside the alphabet (which a well-formed
    /// byte-level vocabulary never contains) is kept as its own UTF-8 bytes, so nothing is lost.
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let v = Int(scalar.value)
            if v < byteForScalar.count, byteForScalar[v] >= 0 {
                out.append(UInt8(byteForScalar[v]))
            } else {
                out.append(contentsOf: String(Character(scalar)).utf8)
            }
        }
        return out
    }
}
