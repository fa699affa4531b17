import CLibUV  // the socket constants, through <sys/socket.h>

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `sd_notify` without libsystemd: one datagram to the socket named by NOTIFY_SOCKET (a path, or
/// an abstract name when it starts with `@`). Does nothing when not run by systemd.
enum SystemdNotify {
    static func send(_ state: String) {
        guard let env = getenv("NOTIFY_SOCKET") else { return }
        var path = Array(String(cString: env).utf8)
        guard !path.isEmpty, path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            Log.warning("sd_notify: socket: \(String(cString: strerror(errno)))")
            return
        }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL), sa, length)
            }
        }
        if sent < 0 { Log.warning("sd_notify \(state): \(String(cString: strerror(errno)))") }
    }
}
