#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A blocking client connection to slmd's Unix socket that sends and receives whole lines; for
/// the CLI clients and the tests (the daemon itself uses libuv).
public final class LineSocket {
    public let descriptor: Int32
    private var buffer: [UInt8] = []
    private var scanned = 0

    public enum Failure: Error, CustomStringConvertible {
        case connect(path: String, message: String)
        case io(String)
        case closed

        public var description: String {
            switch self {
            case .connect(let path, let message): return "cannot connect to \(path): \(message)"
            case .io(let message): return message
            case .closed: return "the daemon closed the connection"
            }
        }
    }

    public init(path: String) throws(Failure) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect(path: path, message: String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .connect(path: path, message: "path too long for a Unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw .connect(path: path, message: message)
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Sends `line` and a newline (added when missing).
    public func send(_ line: String) throws(Failure) {
        var bytes = Array(line.utf8)
        if bytes.last != 0x0A { bytes.append(0x0A) }
        try sendRaw(bytes)
    }

    public func sendRaw(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("send: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// The next line without its newline; `.closed` at end of stream.
    public func readLine() throws(Failure) -> [UInt8] {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                scanned = 0
                return line
            }
            scanned = buffer.count
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw .closed }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    public func readEvent() throws -> Event { try Event(line: try readLine()) }

    /// Half-closes: the daemon answers what was sent, then closes.
    public func finishSending() { shutdown(descriptor, Int32(SHUT_WR)) }
}
