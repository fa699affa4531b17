/// GBNF for the decimal integers between two bounds, built digit by digit as llama.cpp's
/// `build_min_max_int` does (same alternatives in the same order, so the text matches). A grammar
/// cannot compare numbers; it can only say, per digit position, which digits may follow, so a
/// range becomes one alternative per length and per leading digit that differs from a bound.
enum IntegerRangeGrammar {
    /// The body of a rule accepting exactly the integers in `minimum...maximum` (nil: unbounded
    /// on that side; at least one bound is given), in JSON's spelling (no leading zeros, no "+").
    static func body(minimum: Int64?, maximum: Int64?) -> String {
        var writer = Writer()
        writer.range(minimum: minimum, maximum: maximum, decimalsLeft: 16, topLevel: true)
        return "(" + writer.out + ")"
    }

    private struct Writer {
        var out = ""

        mutating func digitRange(_ from: UInt8, _ to: UInt8) {
            out += "["
            out.unicodeScalars.append(Unicode.Scalar(from))
            if from != to {
                out += "-"
                out.unicodeScalars.append(Unicode.Scalar(to))
            }
            out += "]"
        }

        /// `[0-9]` repeated between `minDigits` and `maxDigits` times (`Int.max`: no upper bound).
        mutating func moreDigits(_ minDigits: Int, _ maxDigits: Int) {
            out += "[0-9]"
            if minDigits == maxDigits && minDigits == 1 { return }
            out += "{\(minDigits)"
            if maxDigits != minDigits {
                out += ","
                if maxDigits != Int.max { out += "\(maxDigits)" }
            }
            out += "}"
        }

        /// Numbers from `from` to `to`, both written with the same number of digits.
        mutating func uniformRange(_ from: ArraySlice<UInt8>, _ to: ArraySlice<UInt8>) {
            let from = Array(from)
            let to = Array(to)
            var i = 0
            while i < from.count && i < to.count && from[i] == to[i] { i += 1 }
            if i > 0 { out += "\"" + String(decoding: from[0..<i], as: UTF8.self) + "\"" }
            guard i < from.count && i < to.count else { return }
            if i > 0 { out += " " }
            let subLength = from.count - i - 1
            guard subLength > 0 else {
                digitRangeAlways(from[i], to[i])
                return
            }
            let fromRest = from[(i + 1)...]
            let toRest = to[(i + 1)...]
            let zeros = [UInt8](repeating: UInt8(ascii: "0"), count: subLength)
            let nines = [UInt8](repeating: UInt8(ascii: "9"), count: subLength)
            var toReached = false
            out += "("
            if Array(fromRest) == zeros {
                digitRange(from[i], to[i] - 1)
                out += " "
                moreDigits(subLength, subLength)
            } else {
                out += "["
                out.unicodeScalars.append(Unicode.Scalar(from[i]))
                out += "] ("
                uniformRange(fromRest, nines[...])
                out += ")"
                if from[i] < to[i] - 1 {
                    out += " | "
                    if Array(toRest) == nines {
                        digitRange(from[i] + 1, to[i])
                        toReached = true
                    } else {
                        digitRange(from[i] + 1, to[i] - 1)
                    }
                    out += " "
                    moreDigits(subLength, subLength)
                }
            }
            if !toReached {
                out += " | "
                digitRange(to[i], to[i])
                out += " "
                uniformRange(zeros[...], toRest)
            }
            out += ")"
        }

        /// The last digit's range, always written as `[a-b]` (llama.cpp does not shorten it).
        mutating func digitRangeAlways(_ from: UInt8, _ to: UInt8) {
            out += "["
            out.unicodeScalars.append(Unicode.Scalar(from))
            out += "-"
            out.unicodeScalars.append(Unicode.Scalar(to))
            out += "]"
        }

        mutating func range(minimum: Int64?, maximum: Int64?, decimalsLeft: Int, topLevel: Bool) {
            if var low = minimum, let high = maximum {
                if low < 0 && high < 0 {
                    out += "\"-\" ("
                    range(minimum: -high, maximum: -low, decimalsLeft: decimalsLeft, topLevel: true)
                    out += ")"
                    return
                }
                if low < 0 {
                    out += "\"-\" ("
                    range(minimum: 0, maximum: -low, decimalsLeft: decimalsLeft, topLevel: true)
                    out += ") | "
                    low = 0
                }
                var lowDigits = Array(String(low).utf8)
                let highDigits = Array(String(high).utf8)
                for digits in lowDigits.count..<highDigits.count {
                    uniformRange(lowDigits[...], [UInt8](repeating: UInt8(ascii: "9"), count: digits)[...])
                    lowDigits = [UInt8(ascii: "1")] + [UInt8](repeating: UInt8(ascii: "0"), count: digits)
                    out += " | "
                }
                uniformRange(lowDigits[...], highDigits[...])
                return
            }

            let lessDecimals = max(decimalsLeft - 1, 1)
            if let low = minimum {
                if low < 0 {
                    out += "\"-\" ("
                    range(minimum: nil, maximum: -low, decimalsLeft: decimalsLeft, topLevel: false)
                    out += ") | [0] | [1-9] "
                    moreDigits(0, decimalsLeft - 1)
                } else if low == 0 {
                    if topLevel {
                        out += "[0] | [1-9] "
                        moreDigits(0, lessDecimals)
                    } else {
                        moreDigits(1, decimalsLeft)
                    }
                } else if low <= 9 {
                    let digit = UInt8(ascii: "0") + UInt8(low)
                    let rangeStart = topLevel ? UInt8(ascii: "1") : UInt8(ascii: "0")
                    if digit > rangeStart {
                        digitRange(rangeStart, digit - 1)
                        out += " "
                        moreDigits(1, lessDecimals)
                        out += " | "
                    }
                    digitRange(digit, UInt8(ascii: "9"))
                    out += " "
                    moreDigits(0, lessDecimals)
                } else {
                    let lowDigits = Array(String(low).utf8)
                    let length = lowDigits.count
                    let first = lowDigits[0]
                    if first > UInt8(ascii: "1") {
                        digitRange(topLevel ? UInt8(ascii: "1") : UInt8(ascii: "0"), first - 1)
                        out += " "
                        moreDigits(length, lessDecimals)
                        out += " | "
                    }
                    digitRange(first, first)
                    out += " ("
                    let rest = Int64(String(decoding: lowDigits.dropFirst(), as: UTF8.self)) ?? 0
                    range(minimum: rest, maximum: nil, decimalsLeft: lessDecimals, topLevel: false)
                    out += ")"
                    if first < UInt8(ascii: "9") {
                        out += " | "
                        digitRange(first + 1, UInt8(ascii: "9"))
                        out += " "
                        moreDigits(length - 1, lessDecimals)
                    }
                }
                return
            }

            if let high = maximum {
                if high >= 0 {
                    if topLevel {
                        out += "\"-\" [1-9] "
                        moreDigits(0, lessDecimals)
                        out += " | "
                    }
                    range(minimum: 0, maximum: high, decimalsLeft: decimalsLeft, topLevel: true)
                } else {
                    out += "\"-\" ("
                    range(minimum: -high, maximum: nil, decimalsLeft: decimalsLeft, topLevel: false)
                    out += ")"
                }
            }
        }
    }
}
