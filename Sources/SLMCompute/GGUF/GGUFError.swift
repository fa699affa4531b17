/// Everything that can be wrong with a GGUF file. Each case names the file and the defect, so the
/// message alone tells a user what to fix; nothing in the reader traps on bad input.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case badMagic(path: String, found: UInt32)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, offset: Int, needed: Int, what: String)
    case lengthPastEnd(path: String, offset: Int, length: UInt64, what: String)
    case countPastEnd(path: String, offset: Int, count: UInt64, what: String)
    case unknownValueType(path: String, key: String, type: UInt32)
    case arrayTooDeep(path: String, key: String)
    case duplicateKey(path: String, key: String)
    case badAlignment(path: String, alignment: Int)
    case tooManyDimensions(path: String, tensor: String, count: UInt32)
    case badDimension(path: String, tensor: String, dimension: UInt64)
    case dimensionOverflow(path: String, tensor: String, dimensions: [UInt64])
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    case rowNotBlockAligned(path: String, tensor: String, rowLength: Int, blockElements: Int)
    case duplicateTensor(path: String, tensor: String)
    case tensorMisaligned(path: String, tensor: String, offset: UInt64, alignment: Int)
    case tensorPastEnd(path: String, tensor: String, end: UInt64, fileSize: Int)
    case missingKey(path: String, key: String)
    case wrongKeyType(path: String, key: String, expected: String, found: String)
    case missingTensor(path: String, tensor: String)
    case wrongTensorShape(path: String, tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): return "\(p): cannot open: \(r)"
        case .badMagic(let p, let m):
            return "\(p): not a GGUF file (magic 0x\(String(m, radix: 16)), expected 0x46554747 \"GGUF\")"
        case .unsupportedVersion(let p, let v):
            return "\(p): unsupported GGUF version \(v) (slm reads versions 2 and 3)"
        case .truncated(let p, let o, let n, let w):
            return "\(p): truncated: \(w) needs \(n) bytes at offset \(o), past the end of the file"
        case .lengthPastEnd(let p, let o, let l, let w):
            return "\(p): \(w) at offset \(o) claims length \(l), past the end of the file"
        case .countPastEnd(let p, let o, let c, let w):
            return "\(p): \(w) at offset \(o) claims \(c) entries, more than the file can hold"
        case .unknownValueType(let p, let k, let t): return "\(p): key '\(k)' has unknown value type \(t)"
        case .arrayTooDeep(let p, let k): return "\(p): key '\(k)' nests arrays too deeply"
        case .duplicateKey(let p, let k): return "\(p): key '\(k)' appears twice"
        case .badAlignment(let p, let a): return "\(p): general.alignment \(a) is not a power of two"
        case .tooManyDimensions(let p, let t, let n):
            return "\(p): tensor '\(t)' has \(n) dimensions (at most \(GGUFTensorInfo.maxDimensions))"
        case .badDimension(let p, let t, let d): return "\(p): tensor '\(t)' has invalid dimension \(d)"
        case .dimensionOverflow(let p, let t, let d):
            return "\(p): tensor '\(t)' dimensions \(d) overflow when multiplied"
        case .unknownTensorType(let p, let t, let ty): return "\(p): tensor '\(t)' has unknown tensor type \(ty)"
        case .rowNotBlockAligned(let p, let t, let r, let b):
            return "\(p): tensor '\(t)' row length \(r) is not a multiple of its block size \(b)"
        case .duplicateTensor(let p, let t): return "\(p): tensor '\(t)' appears twice"
        case .tensorMisaligned(let p, let t, let o, let a):
            return "\(p): tensor '\(t)' data offset \(o) is not a multiple of the alignment \(a)"
        case .tensorPastEnd(let p, let t, let e, let s):
            return "\(p): tensor '\(t)' data ends at byte \(e), past the end of the file (\(s) bytes)"
        case .missingKey(let p, let k): return "\(p): required key '\(k)' is missing"
        case .wrongKeyType(let p, let k, let e, let f): return "\(p): key '\(k)' should be \(e), found \(f)"
        case .missingTensor(let p, let t): return "\(p): required tensor '\(t)' is missing"
        case .wrongTensorShape(let p, let t, let e, let f):
            return "\(p): tensor '\(t)' has shape \(f), expected \(e)"
        }
    }
}
