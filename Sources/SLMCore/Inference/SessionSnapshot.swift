import SLMCompute
import SLMModels

/// A session's KV cache and tokens, copied out so a conversation can resume after a restart
/// without running its history again.
///
/// Serialized layout (little-endian): magic "SLMKV003", model identity (16 bytes, ASCII hex),
/// layers, key width, value width, key type, value type (ggml type ids: F16, Q8_0, Q4_0), token
/// count (UInt32 each), tokens (Int32 each), then for each layer the key rows (tokens × key row
/// bytes) and value rows (tokens × value row bytes) in their types, and last a 64-bit checksum of
/// everything before it (`snapshotChecksum`). Version 2 ("SLMKV002", before quantized caches) has
/// no type fields and F16 rows; it is still read, as F16.
public struct SessionSnapshot: Sendable, Equatable {
    public var modelIdentity: String
    public var tokens: [Int32]
    public var layers: Int
    public var keyWidth: Int
    public var valueWidth: Int
    /// The types the rows are stored in (a snapshot keeps its cache's types: Q8_0 ones are half
    /// the size of F16 ones).
    public var cacheTypes: KVCacheTypes
    /// Per layer: tokens key rows, then tokens value rows, in `cacheTypes`.
    public var cache: [UInt8]

    static let magic: [UInt8] = Array("SLMKV003".utf8)
    static let magicVersion2: [UInt8] = Array("SLMKV002".utf8)

    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + 8 + tokens.count * 4 + cache.count)
        out += Self.magic
        out += Array(modelIdentity.utf8.prefix(16)) + [UInt8](repeating: 0x30, count: max(0, 16 - modelIdentity.utf8.count))
        let types = [cacheTypes.key, cacheTypes.value].map { Int($0.kernelType) }
        for v in [layers, keyWidth, valueWidth] + types + [tokens.count] {
            appendLE(UInt32(truncatingIfNeeded: v), to: &out)
        }
        for t in tokens { appendLE(UInt32(bitPattern: t), to: &out) }
        out += cache
        appendLE(out.withUnsafeBytes { snapshotChecksum($0) }, to: &out)
        return out
    }

    public init(
        modelIdentity: String, tokens: [Int32], layers: Int, keyWidth: Int, valueWidth: Int,
        cacheTypes: KVCacheTypes = .f16, cache: [UInt8]
    ) {
        self.modelIdentity = modelIdentity
        self.tokens = tokens
        self.layers = layers
        self.keyWidth = keyWidth
        self.valueWidth = valueWidth
        self.cacheTypes = cacheTypes
        self.cache = cache
    }

    /// Bytes before the tokens: magic, identity, six UInt32 fields (four in version 2).
    static let headerSize = 8 + 16 + 24
    static let headerSizeVersion2 = 8 + 16 + 16

    /// Parses and verifies a serialized snapshot; any defect is a `SnapshotError`. The blob may
    /// come from anywhere (a copied or hand-edited database), so every size derived from its
    /// header is computed with overflow checks and must add up to the blob's own length before
    /// anything is allocated: a crafted header is an error, never a trap or a huge allocation.
    public init(serialized bytes: [UInt8]) throws(SnapshotError) {
        guard bytes.count >= 8 else { throw .malformed("not an slm KV snapshot") }
        let magic = Array(bytes[0..<8])
        let version2 = magic == Self.magicVersion2
        guard version2 || magic == Self.magic else {
            if magic.starts(with: Array("SLMKV".utf8)) {
                throw .malformed("KV snapshot format \(String(decoding: magic[5...], as: UTF8.self)) is not one this slm reads")
            }
            throw .malformed("not an slm KV snapshot")
        }
        let headerSize = version2 ? Self.headerSizeVersion2 : Self.headerSize
        guard bytes.count >= headerSize + 8 else { throw .malformed("truncated header") }
        let bodyCount = bytes.count - 8
        layers = Int(readLE32(bytes, 24))
        keyWidth = Int(readLE32(bytes, 28))
        valueWidth = Int(readLE32(bytes, 32))
        if version2 {
            cacheTypes = .f16
        } else {
            guard let key = KVCacheType(kernelType: readLE32(bytes, 36)),
                let value = KVCacheType(kernelType: readLE32(bytes, 40))
            else { throw .malformed("unknown KV cache type") }
            cacheTypes = KVCacheTypes(key: key, value: value)
        }
        let count = Int(readLE32(bytes, headerSize - 4))
        guard
            let cacheBytes = Self.cacheBytes(layers: layers, keyWidth: keyWidth, valueWidth: valueWidth, types: cacheTypes, tokens: count),
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
        cache = Array(bytes[cacheStart..<(cacheStart + cacheBytes)])
    }
}

extension SessionSnapshot {
    /// Bytes of a cache of this shape and these types: layers × tokens × (key row + value row
    /// bytes), or nil when that overflows or a width is not whole blocks of its type.
    static func cacheBytes(layers: Int, keyWidth: Int, valueWidth: Int, types: KVCacheTypes = .f16, tokens: Int) -> Int? {
        guard keyWidth >= 0, valueWidth >= 0, types.key.supports(width: keyWidth), types.value.supports(width: valueWidth)
        else { return nil }
        // Row bytes never exceed 2 × width, so checking the F16 size bounds them too.
        let (width, overflow) = keyWidth.addingReportingOverflow(valueWidth)
        guard !overflow else { return nil }
        var total = 2
        for factor in [layers, width, tokens] {
            let (product, overflow) = total.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            total = product
        }
        // The F16 bound above is 0 when both widths are, so the typed size is checked on its own.
        var bytes = types.key.rowBytes(width: keyWidth) + types.value.rowBytes(width: valueWidth)
        for factor in [layers, tokens] {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            bytes = product
        }
        return bytes
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

extension KVCacheType {
    /// The type whose kernel id is `id`, nil for any other.
    init?(kernelType id: UInt32) {
        guard let type = Self.allCases.first(where: { UInt32($0.kernelType) == id }) else { return nil }
        self = type
    }
}

extension InferenceState {
    /// Copies the K and V rows of positions `0..<count` out, per layer keys then values, in the
    /// cache's types (the layout of `SessionSnapshot.cache`).
    public func copyRows(count: Int) -> [UInt8] {
        let keyBytes = count * keyRowBytes
        let valueBytes = count * valueRowBytes
        return [UInt8](unsafeUninitializedCapacity: shape.layers * (keyBytes + valueBytes)) { out, initialized in
            var at = 0
            for layer in 0..<shape.layers {
                UnsafeMutableRawPointer(out.baseAddress! + at).copyMemory(from: keyRows(layer: layer), byteCount: keyBytes)
                at += keyBytes
                UnsafeMutableRawPointer(out.baseAddress! + at).copyMemory(from: valueRows(layer: layer), byteCount: valueBytes)
                at += valueBytes
            }
            initialized = at
        }
    }

    /// Writes rows laid out as `copyRows` gives them (stored in `types`) to positions
    /// `0..<count`, converting each row through floats when `types` are not the cache's own
    /// (rotating it out of or into the Hadamard basis a quantized type is kept in); sets the
    /// filled positions to `count`. `rows` may hold more positions than it writes: `stored`
    /// (default `count`) is the count `copyRows` was called with (the prompt cache reuses the
    /// first positions of an entry). The caller checks the sizes.
    public func writeRows(_ rows: [UInt8], count: Int, types: KVCacheTypes, stored: Int? = nil) {
        let stored = stored ?? count
        precondition(stored >= count)
        let headDim = shape.headDim
        let rotations = [
            (types.keyRotationBlock(headDim: headDim), cacheTypes.keyRotationBlock(headDim: headDim)),
            (types.valueRotationBlock(headDim: headDim), cacheTypes.valueRotationBlock(headDim: headDim)),
        ]
        let sourceKeyBytes = types.key.rowBytes(width: shape.keyWidth)
        let sourceValueBytes = types.value.rowBytes(width: shape.valueWidth)
        rows.withUnsafeBytes { src in
            var row = [Float](repeating: 0, count: max(shape.keyWidth, shape.valueWidth))
            var at = src.baseAddress!
            func copy(
                _ from: KVCacheType, _ to: KVCacheType, width: Int, sourceRowBytes: Int, destination: UnsafeMutableRawPointer,
                destinationRowBytes: Int, rotation: (from: Int?, to: Int?)
            ) {
                if from == to {
                    destination.copyMemory(from: at, byteCount: count * sourceRowBytes)
                } else {
                    row.withUnsafeMutableBufferPointer { floats in
                        let f = floats.baseAddress!
                        for p in 0..<count {
                            from.load(at + p * sourceRowBytes, into: f, width: width)
                            if rotation.from != rotation.to {
                                if let block = rotation.from { Ops.hadamardRotate(f, count: width, block: block) }
                                if let block = rotation.to { Ops.hadamardRotate(f, count: width, block: block) }
                            }
                            to.store(f, into: destination + p * destinationRowBytes, width: width)
                        }
                    }
                }
                at += stored * sourceRowBytes
            }
            for layer in 0..<shape.layers {
                copy(
                    types.key, cacheTypes.key, width: shape.keyWidth, sourceRowBytes: sourceKeyBytes,
                    destination: keyRows(layer: layer), destinationRowBytes: keyRowBytes, rotation: rotations[0])
                copy(
                    types.value, cacheTypes.value, width: shape.valueWidth, sourceRowBytes: sourceValueBytes,
                    destination: valueRows(layer: layer), destinationRowBytes: valueRowBytes, rotation: rotations[1])
            }
        }
        setFilledPositions(count)
    }
}

extension Session {
    /// Copies out the cache (only the positions in use), in its types.
    public func snapshot() -> SessionSnapshot {
        let shape = state.shape
        return SessionSnapshot(
            modelIdentity: engine.file.modelIdentity, tokens: cachedTokens, layers: shape.layers,
            keyWidth: shape.keyWidth, valueWidth: shape.valueWidth, cacheTypes: state.cacheTypes,
            cache: state.copyRows(count: cachedTokens.count))
    }

    /// Replaces the cache with `snapshot`'s; on any mismatch the session is left empty and the
    /// error says why (the caller then runs the history again). A snapshot in other cache types
    /// than the session's (an F16 one after switching to Q8_0, say) is converted row by row.
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
        guard
            snapshot.cache.count
                == SessionSnapshot.cacheBytes(
                    layers: shape.layers, keyWidth: shape.keyWidth, valueWidth: shape.valueWidth, types: snapshot.cacheTypes,
                    tokens: n)
        else { throw .malformed("cache size") }
        guard snapshot.tokens.allSatisfy({ $0 >= 0 && Int($0) < engine.model.vocabularySize }) else {
            throw .malformed("token out of range")
        }
        state.writeRows(snapshot.cache, count: n, types: snapshot.cacheTypes)
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
