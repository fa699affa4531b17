#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A read-only, private memory mapping of a whole file. Weights are used in place from here and
/// never copied; the mapping lives as long as this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    /// Start of the mapping; `nil` only for an empty file (mmap refuses zero bytes).
    let base: UnsafeRawPointer?

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    public init(path: String) throws(GGUFError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .cannotOpen(path: path, reason: Self.errnoText()) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw .cannotOpen(path: path, reason: Self.errnoText()) }
        if (info.st_mode & S_IFMT) != S_IFREG { throw .cannotOpen(path: path, reason: "not a regular file") }
        size = Int(info.st_size)
        if size == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if mapped == MAP_FAILED || mapped == nil { throw .cannotOpen(path: path, reason: "mmap: " + Self.errnoText()) }
        base = UnsafeRawPointer(mapped!)
    }

    /// A private anonymous mapping holding a copy of `bytes`, named `name`: lets tests and fuzz
    /// targets read a GGUF held in memory through the same reader.
    package init(copying bytes: UnsafeRawBufferPointer, name: String) throws(GGUFError) {
        path = name
        size = bytes.count
        if size == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if mapped == MAP_FAILED || mapped == nil { throw .cannotOpen(path: name, reason: "mmap: " + Self.errnoText()) }
        mapped!.copyMemory(from: bytes.baseAddress!, byteCount: size)
        base = UnsafeRawPointer(mapped!)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// Tells the kernel a byte range will be read soon (page-aligned outward). Only a hint: errors
    /// are ignored because the data is still readable without it.
    public func adviseWillNeed(offset: Int, length: Int) {
        advise(offset: offset, length: length, advice: MADV_WILLNEED)
    }

    /// Hints that a range is read in order (the header and metadata are).
    public func adviseSequential(offset: Int, length: Int) {
        advise(offset: offset, length: length, advice: MADV_SEQUENTIAL)
    }

    /// Bytes of the mapping in memory now (`mincore`: pages of the file in the page cache, which
    /// a read of the mapping maps without I/O), counted in whole pages; nil if the kernel will
    /// not say. Costs one byte per page of scratch and a walk over it: call it for a report,
    /// not per token.
    public func residentBytes() -> Int? {
        guard let base, size > 0 else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page
        var vector = [UInt8](repeating: 0, count: pages)
        let rc = vector.withUnsafeMutableBufferPointer { mincore(UnsafeMutableRawPointer(mutating: base), size, $0.baseAddress) }
        guard rc == 0 else { return nil }
        return vector.reduce(0) { $0 + Int($1 & 1) } * page
    }

    private func advise(offset: Int, length: Int, advice: Int32) {
        guard let base, length > 0, offset >= 0, offset < size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        let end = min(size, offset + length)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, advice)
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
