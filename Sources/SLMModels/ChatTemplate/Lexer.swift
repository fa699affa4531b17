// Lexer: splits a template into text and tag tokens, applying jinja2's whitespace rules as
// Hugging Face and llama.cpp configure them: trim_blocks (drop the newline after `%}` / `#}`),
// lstrip_blocks (drop indentation before `{%` / `{#` on their own line), `-` / `+` modifiers, and
// keep_trailing_newline off (one final newline of the source is dropped).

enum TokenKind: Equatable {
    case text(String)
    case varBegin, varEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case int(Int)
    case float(Double)
    case op(String)
    case eof
}

struct Token {
    let kind: TokenKind
    let line: Int
}

struct Lexer {
    /// Largest template accepted (bytes of UTF-8).
    static let maxSourceBytes = 1 << 20

    private var src: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    private(set) var tokens: [Token] = []

    init(_ source: String) throws {
        guard source.utf8.count <= Lexer.maxSourceBytes else {
            throw ChatTemplateError(.limit, "template is larger than \(Lexer.maxSourceBytes) bytes", line: 1)
        }
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if c == "\r" {
                scalars.append("\n")
                if let n = it.next(), n != "\n" { pending = n }
            } else {
                scalars.append(c)
            }
        }
        if scalars.last == "\n" { scalars.removeLast() }
        src = scalars
        try run()
    }

    private func at(_ i: Int) -> Unicode.Scalar? { i < src.count ? src[i] : nil }

    private func starts(_ s: String, at i: Int) -> Bool {
        var j = i
        for c in s.unicodeScalars {
            guard j < src.count, src[j] == c else { return false }
            j += 1
        }
        return true
    }

    private static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}" || c.properties.isWhitespace
    }

    private mutating func emit(_ kind: TokenKind, _ line: Int) { tokens.append(Token(kind: kind, line: line)) }

    private mutating func run() throws {
        while pos < src.count {
            // Find the next tag opener.
            var i = pos
            var kind: Unicode.Scalar? = nil
            while i + 1 < src.count {
                if src[i] == "{", src[i + 1] == "{" || src[i + 1] == "%" || src[i + 1] == "#" {
                    kind = src[i + 1]
                    break
                }
                i += 1
            }
            guard let kind else {
                emitText(from: pos, to: src.count, line: line)
                pos = src.count
                break
            }
            let textStart = pos
            let textLine = line
            var textEnd = i
            let modifier = at(i + 2)
            let isBlockLike = kind == "%" || kind == "#"
            if modifier == "-" {
                while textEnd > textStart, Lexer.isSpace(src[textEnd - 1]) { textEnd -= 1 }
            } else if isBlockLike && modifier != "+" {
                // lstrip_blocks: only whitespace between the line start and the tag.
                var l = textEnd
                while l > textStart, src[l - 1] != "\n", Lexer.isSpace(src[l - 1]) { l -= 1 }
                let atLineStart = l > textStart ? src[l - 1] == "\n" : (textStart == 0 || src[textStart - 1] == "\n")
                if atLineStart { textEnd = l }
            }
            emitText(from: textStart, to: textEnd, line: textLine)
            for k in textStart..<i where src[k] == "\n" { line += 1 }
            let tagLine = line
            pos = i + 2 + ((modifier == "-" || modifier == "+") ? 1 : 0)
            if kind == "#" {
                // Comment: skip to `#}`.
                var j = pos
                var found = false
                while j + 1 < src.count {
                    if src[j] == "#", src[j + 1] == "}" {
                        found = true
                        break
                    }
                    j += 1
                }
                guard found else { throw ChatTemplateError(.syntax, "unterminated comment '{#' (missing '#}')", line: tagLine) }
                for k in pos..<j where src[k] == "\n" { line += 1 }
                let strip = j > pos && src[j - 1] == "-"
                pos = j + 2
                afterTag(strip: strip, trim: true)
                continue
            }
            let isVar = kind == "{"
            emit(isVar ? .varBegin : .blockBegin, tagLine)
            try lexInside(isVar: isVar, openLine: tagLine)
        }
        emit(.eof, line)
    }

    private mutating func emitText(from a: Int, to b: Int, line: Int) {
        guard a < b else { return }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: src[a..<b])
        emit(.text(String(s)), line)
    }

    /// After a tag: `-` strips all following whitespace; otherwise trim_blocks drops one newline.
    private mutating func afterTag(strip: Bool, trim: Bool) {
        if strip {
            while pos < src.count, Lexer.isSpace(src[pos]) {
                if src[pos] == "\n" { line += 1 }
                pos += 1
            }
        } else if trim, at(pos) == "\n" {
            pos += 1
            line += 1
        }
    }

    private mutating func lexInside(isVar: Bool, openLine: Int) throws {
        let closer: Unicode.Scalar = isVar ? "}" : "%"
        var depth = 0
        while true {
            guard let c = at(pos) else {
                throw ChatTemplateError(
                    .syntax, "unterminated tag '\(isVar ? "{{" : "{%")' (missing '\(isVar ? "}}" : "%}")')", line: openLine)
            }
            if c == "\n" {
                line += 1
                pos += 1
                continue
            }
            if Lexer.isSpace(c) {
                pos += 1
                continue
            }
            // Tag end, possibly with a `-` or `+` modifier.
            if depth == 0 {
                var strip = false
                var j = pos
                if c == "-" || c == "+", at(pos + 1) == closer, at(pos + 2) == "}" {
                    strip = c == "-"
                    j += 1
                }
                if at(j) == closer, at(j + 1) == "}" {
                    pos = j + 2
                    emit(isVar ? .varEnd : .blockEnd, line)
                    afterTag(strip: strip, trim: !isVar)
                    return
                }
            }
            let tokLine = line
            if c == "'" || c == "\"" {
                emit(.string(try lexString(quote: c)), tokLine)
                continue
            }
            if c.properties.numericType != nil && c.isASCII && ("0"..."9").contains(c) {
                emit(lexNumber(), tokLine)
                continue
            }
            if c == "_" || c.properties.isAlphabetic {
                var s = String.UnicodeScalarView()
                while let d = at(pos), d == "_" || d.properties.isAlphabetic || (d.isASCII && ("0"..."9").contains(d)) {
                    s.append(d)
                    pos += 1
                }
                emit(.name(String(s)), tokLine)
                continue
            }
            // Operators, longest first.
            let ops = [
                "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=",
                "(", ")", "[", "]", "{", "}", ",", ".", ":", "|",
            ]
            guard let op = ops.first(where: { starts($0, at: pos) }) else {
                throw ChatTemplateError(.syntax, "unexpected character '\(c)' in tag", line: tokLine)
            }
            if op == "(" || op == "[" || op == "{" { depth += 1 }
            if op == ")" || op == "]" || op == "}" { depth = max(0, depth - 1) }
            pos += op.unicodeScalars.count
            emit(.op(op), tokLine)
        }
    }

    private mutating func lexNumber() -> TokenKind {
        var s = ""
        var isFloat = false
        while let d = at(pos) {
            if d.isASCII && ("0"..."9").contains(d) {
                s.unicodeScalars.append(d)
                pos += 1
            } else if d == "_" {
                pos += 1
            } else if d == ".", !isFloat, let n = at(pos + 1), n.isASCII, ("0"..."9").contains(n) {
                isFloat = true
                s += "."
                pos += 1
            } else if d == "e" || d == "E", let n = at(pos + 1), n.isASCII, ("0"..."9").contains(n) || n == "-" || n == "+" {
                isFloat = true
                s += "e"
                pos += 1
                if n == "-" || n == "+" {
                    s.unicodeScalars.append(n)
                    pos += 1
                }
            } else {
                break
            }
        }
        if !isFloat, let i = Int(s) { return .int(i) }
        return .float(Double(s) ?? 0)
    }

    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let startLine = line
        pos += 1
        var out = String.UnicodeScalarView()
        while true {
            guard let c = at(pos) else {
                throw ChatTemplateError(.syntax, "unterminated string literal", line: startLine)
            }
            pos += 1
            if c == quote { break }
            if c == "\n" { line += 1 }
            if c != "\\" {
                out.append(c)
                continue
            }
            guard let e = at(pos) else { continue }
            pos += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "0": out.append("\0")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "a": out.append("\u{07}")
            case "\\", "'", "\"": out.append(e)
            case "\n": line += 1  // line continuation
            case "x", "u", "U":
                let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                var v: UInt32 = 0
                var ok = true
                for _ in 0..<width {
                    guard let h = at(pos), let d = UInt32(String(h), radix: 16) else {
                        ok = false
                        break
                    }
                    v = v * 16 + d
                    pos += 1
                }
                if ok, let s = Unicode.Scalar(v) {
                    out.append(s)
                } else {
                    throw ChatTemplateError(.syntax, "bad \\\(e) escape in string literal", line: line)
                }
            default:
                out.append("\\")
                out.append(e)
            }
        }
        return String(out)
    }
}
