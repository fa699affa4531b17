import SLMCompute
import SLMModels

/// A session's KV cache and tokens, copied out so a conversation can resume after a restart
/// without running its history again.
///
/// Serialized layout (little-endian): magic "SLMKV002", model identity (16 bytes, ASCII hex),
/// layers, key width, value width, token count (UInt32 each), tokens (Int32 each), then for each
/// layer the keys (tokens × key width F16) and values (tokens × value width F16), and last a
/// 64-bit checksum of everything before it (`snapshotChecksum`).
public struct SessionSnapshot: Sendable, Equatable {
    public var modelIdentity: String
    public var tokens: [Int32]
    public var layers: Int
    public var keyWidth: Int
    public var valueWidth: Int
    /// (layers, 2 (keys, values), tokens, width) F16 bits, keys then values per layer.
    public var cache: [UInt16]

    static let magic: [UInt8] = Array("SLMKV002".utf8)

    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + tokens.count * 4 + cache.count * 2)
        out += Self.magic
        out += Array(modelIdentity.utf8.prefix(16)) + [UInt8](repeating: 0x30, count: max(0, 16 - modelIdentity.utf8.count))
        for v in [layers, keyWidth, valueWidth, tokens.count] { appendLE(UInt32(truncatingIfNeeded: v), to: &out) }
        for t in tokens { appendLE(UInt32(bitPattern: t), to: &out) }
        cache.withUnsafeBytes { out += $0 }
        appendLE(out.withUnsafeBytes { snapshotChecksum($0) }, to: &out)
        return out
    }

    public init(modelIdentity: String, tokens: [Int32], layers: Int, keyWidth: Int, valueWidth: Int, cache: [UInt16]) {
        self.modelIdentity = modelIdentity
        self.tokens = tokens
        self.layers = layers
        self.keyWidth = keyWidth
        self.valueWidth = valueWidth
        self.cache = cache
    }

    /// Bytes before the tokens: magic, identity, four UInt32 counts.
    static let headerSize = 8 + 16 + 16

    /// Parses and verifies a serialized snapshot; any defect is a `SnapshotError`. The blob may
    /// come from anywhere (a copied or hand-edited database), so every size derived from its
    /// header is computed with overflow checks and must add up to the blob's own length before
    /// anything is allocated: a crafted header is an error, never a trap or a huge allocation.
    public init(serialized bytes: [UInt8]) throws(SnapshotError) {
        let headerSize = Self.headerSize
        guard bytes.count >= headerSize + 8, Array(bytes[0..<8]) == Self.magic else { throw .malformed("not an slm KV snapshot") }
        let bodyCount = bytes.count - 8
        layers = Int(readLE32(bytes, 24))
        keyWidth = Int(readLE32(bytes, 28))
        valueWidth = Int(readLE32(bytes, 32))
        let count = Int(readLE32(bytes, 36))
        guard let cacheBytes = Self.cacheBytes(layers: layers, keyWidth: keyWidth, valueWidth: valueWidth, tokens: count),
            let expected = Self.checkedSum(headerSize, count.multipliedReportingOverflow(by: 4), cacheBytes),
            expected == bodyCount
        else {
            throw .malformed(
                "sizes do not add up: \(layers) layers × (\(keyWidth) + \(valueWidth)) × \(count) tokens in \(bytes.count) bytes")
        }
        let sum = bytes.withUnsafeBytes { snapshotChecksum(UnsafeRawBufferPointer(rebasing: $0[..<bodyCount])) }
        guard readLE64(bytes, bodyCount) == sum else { throw .checksumMismatch }
        modelIdentity = String(decoding: bytes[8..<24], as: UTF8.self)
        tokens = (0..<count).map { Int32(bitPattern: readLE32(bytes, headerSize + $0 * 4)) }
        let cacheStart = headerSize + count * 4
        cache = [UInt16](repeating: 0, count: cacheBytes / 2)
        cache.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[cacheStart..<(cacheStart + cacheBytes)]))
            }
        }
    }
}

extension SessionSnapshot {
    /// F16 bytes of a cache of this shape: layers × (key width + value width) × tokens × 2, or
    /// nil when that overflows.
    static func cacheBytes(layers: Int, keyWidth: Int, valueWidth: Int, tokens: Int) -> Int? {
        let (width, overflow) = keyWidth.addingReportingOverflow(valueWidth)
        guard !overflow else { return nil }
        var total = 2
        for factor in [layers, width, tokens] {
            let (product, overflow) = total.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            total = product
        }
        return total
    }

    /// `base + a + b`, nil on overflow (`a` as `multipliedReportingOverflow` gives it).
    private static func checkedSum(_ base: Int, _ a: (partialValue: Int, overflow: Bool), _ b: Int) -> Int? {
        guard !a.overflow else { return nil }
        let (partial, o1) = base.addingReportingOverflow(a.partialValue)
        let (total, o2) = partial.addingReportingOverflow(b)
        return o1 || o2 ? nil : total
    }
}

public enum SnapshotError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case checksumMismatch
    case wrongModel(snapshot: String, model: String)
    case shapeMismatch(String)
    case tooLong(tokens: Int, contextLength: Int)

    public var description: String {
        switch self {
        case .malformed(let why): return "KV snapshot is malformed: \(why)"
        case .checksumMismatch: return "KV snapshot failed its checksum"
        case .wrongModel(let s, let m): return "KV snapshot belongs to model \(s), not \(m)"
        case .shapeMismatch(let why): return "KV snapshot does not fit this model: \(why)"
        case .tooLong(let t, let c): return "KV snapshot holds \(t) tokens, more than the context length \(c)"
        }
    }
}

extension Session {
    /// Copies out the cache (only the positions in use).
    public func snapshot() -> SessionSnapshot {
        let shape = state.shape
        let n = cachedTokens.count
        var cache = [UInt16](repeating: 0, count: state.cacheRowBytes(positions: n) / 2)
        cache.withUnsafeMutableBytes { state.copyCacheRows(count: n, to: $0) }
        return SessionSnapshot(
            modelIdentity: engine.file.modelIdentity, tokens: cachedTokens, layers: shape.layers,
            keyWidth: shape.keyWidth, valueWidth: shape.valueWidth, cache: cache)
    }

    /// Replaces the cache with `snapshot`'s; on any mismatch the session is left empty and the
    /// error says why (the caller then runs the history again).
    public func restore(_ snapshot: SessionSnapshot) throws(SnapshotError) {
        reset()
        let shape = state.shape
        let identity = engine.file.modelIdentity
        guard snapshot.modelIdentity == identity else { throw .wrongModel(snapshot: snapshot.modelIdentity, model: identity) }
        guard snapshot.layers == shape.layers, snapshot.keyWidth == shape.keyWidth, snapshot.valueWidth == shape.valueWidth else {
            throw .shapeMismatch(
                "layers/key/value widths \(snapshot.layers)/\(snapshot.keyWidth)/\(snapshot.valueWidth), model has \(shape.layers)/\(shape.keyWidth)/\(shape.valueWidth)"
            )
        }
        let n = snapshot.tokens.count
        guard n < state.contextLength else { throw .tooLong(tokens: n, contextLength: state.contextLength) }
        guard snapshot.cache.count * 2 == state.cacheRowBytes(positions: n) else { throw .malformed("cache size") }
        guard snapshot.tokens.allSatisfy({ $0 >= 0 && Int($0) < engine.model.vocabularySize }) else {
            throw .malformed("token out of range")
        }
        snapshot.cache.withUnsafeBytes { state.loadCacheRows(count: n, from: $0) }
        restoreCachedTokens(snapshot.tokens)
    }
}

extension GGUFFile {
    /// Identifies the model a KV cache belongs to: a hash of the header and tensor table (names,
    /// shapes, types, offsets), which is what decides the cache's meaning; cheap, no tensor data read.
    public var modelIdentity: String {
        let header = UnsafeRawBufferPointer(rebasing: file.bytes[0..<min(dataOffset, file.size)])
        var hash = fnv1a64(header)
        hash ^= UInt64(file.size) &* 0x9E37_79B9_7F4A_7C15
        return hex16(hash)
    }
}

/// A checksum fast enough for tens of megabytes of cache: four independent multiply-xor lanes
/// over 8-byte words (a byte-at-a-time FNV made loading a 1,000-token snapshot noticeably slower),
/// FNV-1a over the tail, lanes folded together. Detects corruption; not a cryptographic hash.
func snapshotChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let prime: UInt64 = 0x0000_0100_0000_01b3
    var lanes: (UInt64, UInt64, UInt64, UInt64) = (
        0xcbf2_9ce4_8422_2325, 0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9
    )
    let words = bytes.count / 32 * 4
    var i = 0
    while i < words {
        let at = i * 8
        lanes.0 = (lanes.0 ^ bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) &* prime
        lanes.1 = (lanes.1 ^ bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)) &* prime
        lanes.2 = (lanes.2 ^ bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self)) &* prime
        lanes.3 = (lanes.3 ^ bytes.loadUnaligned(fromByteOffset: at + 24, as: UInt64.self)) &* prime
        lanes.0 ^= lanes.0 >> 29
        lanes.1 ^= lanes.1 >> 29
        lanes.2 ^= lanes.2 >> 29
        lanes.3 ^= lanes.3 >> 29
        i += 4
    }
    var hash = UInt64(bytes.count)
    for lane in [lanes.0, lanes.1, lanes.2, lanes.3] {
        hash = (hash ^ lane) &* prime
        hash ^= hash >> 32
    }
    for b in bytes[(words * 8)...] { hash = (hash ^ UInt64(b)) &* prime }
    return hash
}

func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return hash
}

private func hex16(_ v: UInt64) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8](repeating: 0, count: 16)
    for i in 0..<16 { out[15 - i] = digits[Int((v >> (UInt64(i) * 4)) & 0xF)] }
    return String(decoding: out, as: UTF8.self)
}

private func appendLE(_ v: UInt32, to out: inout [UInt8]) {
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (UInt32(i) * 8))) }
}

private func appendLE(_ v: UInt64, to out: inout [UInt8]) {
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (UInt64(i) * 8))) }
}

private func readLE32(_ b: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (UInt32($1) * 8) }
}

private func readLE64(_ b: [UInt8], _ at: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (UInt64($1) * 8) }
}
