import ArgumentParser
import SLMStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where `slm chat` and `slm conversations` keep conversations when --db is not given:
/// $XDG_DATA_HOME/slm/conversations.db, else ~/.local/share/slm/conversations.db (directory
/// created private to the user).
enum StoreLocation {
    static func resolve(_ given: String?) throws -> String {
        if let given { return given }
        var base: String
        if let xdg = getenv("XDG_DATA_HOME"), xdg.pointee == UInt8(ascii: "/") {
            base = String(cString: xdg)
        } else if let home = getenv("HOME"), home.pointee != 0 {
            base = String(cString: home) + "/.local/share"
        } else {
            throw ValidationError("no --db given and neither XDG_DATA_HOME nor HOME is set")
        }
        base += "/slm"
        try makeDirectories(base)
        return base + "/conversations.db"
    }

    /// mkdir -p, new directories mode 0700 (conversations are private).
    static func makeDirectories(_ path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw ValidationError("cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Every conversation belongs to the Unix user running slm.
    static var owner: OwnerID { getuid() }

    static func open(_ given: String?) throws -> ConversationStore {
        try ConversationStore(path: try resolve(given))
    }
}

/// Reads standard input one line at a time as bytes, so that text that is not UTF-8 can be
/// refused with a clear error instead of being silently repaired.
struct LineReader {
    /// Longest line taken; longer ones are read to their end and refused.
    static let maxLineBytes = ConversationStore.maxMessageBytes

    enum Line {
        case text([UInt8])
        case tooLong(Int)
    }

    /// The next line that is a message the store takes (bounded, valid UTF-8), or nil at end of
    /// input. A line that is not is reported on stderr and skipped. On a terminal each read is
    /// prompted with "> ".
    mutating func nextMessage() -> String? {
        let interactive = isatty(STDIN_FILENO) != 0
        while true {
            if interactive { Console.out("> ") }
            switch next() {
            case nil:
                return nil
            case .tooLong(let bytes):
                Console.err("error: \(StoreError.tooLarge(what: "message", bytes: bytes, limit: Self.maxLineBytes))\n")
            case .text(let bytes):
                do {
                    return try ConversationStore.validatedText(utf8: bytes, what: "message")
                } catch {
                    Console.err("error: \(error)\n")
                }
            }
        }
    }

    /// nil at end of input.
    mutating func next() -> Line? {
        var bytes: [UInt8] = []
        var total = 0
        while true {
            let c = getchar()
            if c == EOF {
                if total == 0 { return nil }
                break
            }
            if c == 0x0A { break }
            total += 1
            if total <= Self.maxLineBytes { bytes.append(UInt8(truncatingIfNeeded: c)) }
        }
        if total > Self.maxLineBytes { return .tooLong(total) }
        if bytes.last == 0x0D { bytes.removeLast() }
        return .text(bytes)
    }
}

/// Local time as "YYYY-MM-DD HH:MM" from Unix milliseconds, without Foundation.
func formatTimestamp(_ milliseconds: Int64) -> String {
    var seconds = time_t(milliseconds / 1000)
    var parts = tm()
    guard localtime_r(&seconds, &parts) != nil else { return "\(milliseconds)" }
    var buffer = [CChar](repeating: 0, count: 32)
    let n = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M", &parts)
    return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
