/// A GGUF model file (versions 2 and 3), memory-mapped. Metadata is parsed eagerly into values;
/// tensor data is only located and validated, then read in place through `data(of:)`.
public final class GGUFFile: @unchecked Sendable {
    /// "GGUF" read as a little-endian u32.
    static let magic: UInt32 = 0x4655_4747
    static let supportedVersions: ClosedRange<UInt32> = 2...3
    static let defaultAlignment = 32
    /// Arrays of arrays are legal, but nothing real nests deeper than this; the bound keeps a
    /// hostile file from recursing the parser off the stack.
    static let maxArrayDepth = 8

    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Keys in file order, for display.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Offset of the tensor data section from the start of the file.
    public let dataOffset: Int
    public let file: MappedFile

    private let tensorIndex: [String: Int]

    public convenience init(path: String) throws(GGUFError) {
        try self.init(file: try MappedFile(path: path))
    }

    /// Parses a GGUF held in memory (copied into an anonymous mapping); `name` stands for the path
    /// in errors. For tests and fuzz targets.
    package convenience init(bytes: [UInt8], name: String = "<memory>") throws(GGUFError) {
        let file = bytes.withUnsafeBytes { raw in Result { () throws(GGUFError) in try MappedFile(copying: raw, name: name) } }
        try self.init(file: try file.get())
    }

    init(file: MappedFile) throws(GGUFError) {
        let path = file.path
        self.file = file
        self.path = path
        file.adviseSequential(offset: 0, length: file.size)
        var reader = ByteReader(bytes: file.bytes, path: path)

        let magic = try reader.u32("magic")
        guard magic == Self.magic else { throw .badMagic(path: path, found: magic) }
        version = try reader.u32("version")
        guard Self.supportedVersions.contains(version) else { throw .unsupportedVersion(path: path, version: version) }
        let tensorCount = try reader.u64("tensor count")
        let kvCount = try reader.u64("metadata count")
        // Every key/value takes at least 8 (key length) + 4 (type) + 1 bytes, every tensor info at
        // least 8 + 4 + 4 + 8: reject counts that cannot fit before allocating anything for them.
        try reader.checkCount(kvCount, minimumSize: 13, what: "metadata count")
        try reader.checkCount(tensorCount, minimumSize: 24, what: "tensor count")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(kvCount))
        for _ in 0..<Int(kvCount) {
            let key = try reader.string("metadata key")
            let rawType = try reader.u32("value type of '\(key)'")
            let value = try reader.value(rawType: rawType, key: key, depth: 0)
            if metadata.updateValue(value, forKey: key) != nil { throw .duplicateKey(path: path, key: key) }
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys

        var alignment = Self.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard let a = value.asInt else {
                throw .wrongKeyType(path: path, key: "general.alignment", expected: "u32", found: value.typeName)
            }
            guard a > 0, a & (a - 1) == 0, a <= 1 << 20 else { throw .badAlignment(path: path, alignment: a) }
            alignment = a
        }
        self.alignment = alignment

        struct RawTensor {
            var name: String
            var dims: [Int]
            var type: TensorType
            var offset: UInt64
            var bytes: Int
        }
        var raw: [RawTensor] = []
        raw.reserveCapacity(Int(tensorCount))
        var index: [String: Int] = [:]
        for _ in 0..<Int(tensorCount) {
            let name = try reader.string("tensor name")
            let nDims = try reader.u32("dimension count of '\(name)'")
            guard nDims >= 1, nDims <= UInt32(GGUFTensorInfo.maxDimensions) else {
                throw .tooManyDimensions(path: path, tensor: name, count: nDims)
            }
            var dims: [UInt64] = []
            for _ in 0..<nDims { dims.append(try reader.u64("dimension of '\(name)'")) }
            let type = TensorType(rawValue: try reader.u32("type of '\(name)'"))
            let offset = try reader.u64("data offset of '\(name)'")

            var elements = 1
            var intDims: [Int] = []
            for d in dims {
                guard d > 0, d <= UInt64(Int32.max) else { throw .badDimension(path: path, tensor: name, dimension: d) }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow else { throw .dimensionOverflow(path: path, tensor: name, dimensions: dims) }
                elements = product
                intDims.append(Int(d))
            }
            guard type.hasKnownLayout else { throw .unknownTensorType(path: path, tensor: name, type: type.rawValue) }
            guard intDims[0] % type.blockElements == 0 else {
                throw .rowNotBlockAligned(path: path, tensor: name, rowLength: intDims[0], blockElements: type.blockElements)
            }
            let (bytes, overflow) = (elements / type.blockElements).multipliedReportingOverflow(by: type.blockBytes)
            guard !overflow else { throw .dimensionOverflow(path: path, tensor: name, dimensions: dims) }
            guard offset % UInt64(alignment) == 0 else {
                throw .tensorMisaligned(path: path, tensor: name, offset: offset, alignment: alignment)
            }
            if index.updateValue(raw.count, forKey: name) != nil { throw .duplicateTensor(path: path, tensor: name) }
            raw.append(RawTensor(name: name, dims: intDims, type: type, offset: offset, bytes: bytes))
        }

        // The data section starts at the next multiple of the alignment after the header.
        let headerEnd = reader.offset
        let dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(raw.count)
        for t in raw {
            let (start, o1) = UInt64(dataOffset).addingReportingOverflow(t.offset)
            let (end, o2) = start.addingReportingOverflow(UInt64(t.bytes))
            guard !o1, !o2, end <= UInt64(file.size) else {
                throw .tensorPastEnd(path: path, tensor: t.name, end: o1 || o2 ? UInt64.max : end, fileSize: file.size)
            }
            infos.append(
                GGUFTensorInfo(
                    name: t.name, dimensions: t.dims, type: t.type,
                    fileOffset: Int(start), byteCount: t.bytes))
        }
        self.tensors = infos
        self.tensorIndex = index
    }

    // MARK: - Metadata access

    public func value(_ key: String) -> GGUFValue? { metadata[key] }
    public func string(_ key: String) -> String? { metadata[key]?.asString }
    public func int(_ key: String) -> Int? { metadata[key]?.asInt }
    public func bool(_ key: String) -> Bool? { metadata[key]?.asBool }
    public func float(_ key: String) -> Double? { metadata[key]?.asFloat }
    public func array(_ key: String) -> [GGUFValue]? { metadata[key]?.asArray }

    public func stringArray(_ key: String) -> [String]? {
        guard let items = metadata[key]?.asArray else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let s = item.asString else { return nil }
            out.append(s)
        }
        return out
    }

    public func int32Array(_ key: String) -> [Int32]? {
        if case .scalarArray(let a)? = metadata[key] { return a.int32s() }
        guard let items = metadata[key]?.asArray else { return nil }
        var out: [Int32] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.asInt, let narrow = Int32(exactly: v) else { return nil }
            out.append(narrow)
        }
        return out
    }

    public func floatArray(_ key: String) -> [Float]? {
        if case .scalarArray(let a)? = metadata[key] { return a.floats() }
        guard let items = metadata[key]?.asArray else { return nil }
        var out: [Float] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.asFloat else { return nil }
            out.append(Float(v))
        }
        return out
    }

    /// A required integer key: named errors for missing and mistyped.
    public func requireInt(_ key: String) throws(GGUFError) -> Int {
        guard let value = metadata[key] else { throw .missingKey(path: path, key: key) }
        guard let v = value.asInt else { throw .wrongKeyType(path: path, key: key, expected: "integer", found: value.typeName) }
        return v
    }

    public func requireString(_ key: String) throws(GGUFError) -> String {
        guard let value = metadata[key] else { throw .missingKey(path: path, key: key) }
        guard let v = value.asString else { throw .wrongKeyType(path: path, key: key, expected: "string", found: value.typeName) }
        return v
    }

    public func requireFloat(_ key: String) throws(GGUFError) -> Double {
        guard let value = metadata[key] else { throw .missingKey(path: path, key: key) }
        guard let v = value.asFloat else { throw .wrongKeyType(path: path, key: key, expected: "float", found: value.typeName) }
        return v
    }

    /// The model's architecture (`general.architecture`), required of every model file.
    public func architecture() throws(GGUFError) -> String { try requireString("general.architecture") }

    // MARK: - Tensors

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes inside the mapping (no copy). Valid while this file object lives.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawPointer {
        file.base! + tensor.fileOffset
    }

    /// Asks the kernel to start reading all tensor data, so the first token does not pay for
    /// page faults one 4 KiB page at a time.
    public func prefetchTensorData() {
        file.adviseWillNeed(offset: dataOffset, length: file.size - dataOffset)
    }
}

/// Bounds-checked little-endian reads over the mapping. Every read either succeeds or throws a
/// `GGUFError` that says what was being read and where.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        if n > remaining { throw .truncated(path: path, offset: offset, needed: n, what: what()) }
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt32 { try load(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt64 { try load(UInt64.self, what()) }

    func checkCount(_ count: UInt64, minimumSize: Int, what: String) throws(GGUFError) {
        if count > UInt64(remaining / max(minimumSize, 1)) {
            throw .countPastEnd(path: path, offset: offset, count: count, what: what)
        }
    }

    mutating func string(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = offset
        let length = try u64(what())
        guard length <= UInt64(remaining) else {
            throw .lengthPastEnd(path: path, offset: start, length: length, what: what())
        }
        let n = Int(length)
        // Invalid UTF-8 is repaired (U+FFFD) rather than rejected: token texts of some
        // vocabularies are raw byte sequences and still have to load.
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n]), as: UTF8.self)
        offset += n
        return s
    }

    mutating func value(rawType: UInt32, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw .unknownValueType(path: path, key: key, type: rawType)
        }
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, key))
        case .int8: return .int8(try load(Int8.self, key))
        case .uint16: return .uint16(try load(UInt16.self, key))
        case .int16: return .int16(try load(Int16.self, key))
        case .uint32: return .uint32(try load(UInt32.self, key))
        case .int32: return .int32(try load(Int32.self, key))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, key)))
        case .bool: return .bool(try load(UInt8.self, key) != 0)
        case .string: return .string(try string(key))
        case .uint64: return .uint64(try load(UInt64.self, key))
        case .int64: return .int64(try load(Int64.self, key))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, key)))
        case .array:
            guard depth < GGUFFile.maxArrayDepth else { throw .arrayTooDeep(path: path, key: key) }
            let elementRawType = try u32("array element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: elementRawType) else {
                throw .unknownValueType(path: path, key: key, type: elementRawType)
            }
            let countOffset = offset
            let count = try u64("array length of '\(key)'")
            if count > UInt64(remaining / elementType.minimumEncodedSize) {
                throw .countPastEnd(path: path, offset: countOffset, count: count, what: "array '\(key)'")
            }
            // The count check above bounds count × width by the bytes left, so this cannot overflow.
            if let width = elementType.scalarWidth {
                let size = Int(count) * width
                try need(size, "array '\(key)'")
                let array = GGUFScalarArray(
                    elementType: elementType, bytes: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size]))
                offset += size
                return .scalarArray(array)
            }
            // Strings and nested arrays: at most remaining / 8 entries of 24 bytes, i.e. memory
            // bounded by 3× the file (plus the strings' own bytes, each bounded by the file too).
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                items.append(try value(rawType: elementRawType, key: key, depth: depth + 1))
            }
            return .array(items)
        }
    }
}
