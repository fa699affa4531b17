import CLibUV

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libuv codes become `DaemonError.uv` here and only here.
@discardableResult
func uvCheck(_ code: Int32, _ call: String) throws(DaemonError) -> Int32 {
    if code < 0 { throw .uv(call: call, code: code, message: uvMessage(code)) }
    return code
}

func uvMessage(_ code: Int32) -> String { String(cString: uv_strerror(code)) }

/// errno becomes `DaemonError.system` here and only here.
func systemError(_ call: String) -> DaemonError {
    let code = errno
    return .system(call: call, errno: code, message: String(cString: strerror(code)))
}

func asStream<T>(_ handle: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_stream_t> {
    UnsafeMutablePointer<uv_stream_t>(OpaquePointer(handle))
}

func asHandle<T>(_ handle: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
    UnsafeMutablePointer<uv_handle_t>(OpaquePointer(handle))
}

/// The listening socket: the one systemd passed (socket activation), else a path slmd binds.
enum Listener {
    /// The first file descriptor systemd passes (SD_LISTEN_FDS_START).
    static let activationFirstDescriptor: Int32 = 3
    /// Owner and group may connect; nobody else (the group is how other users are let in).
    static let socketMode: mode_t = 0o660

    /// Opens `pipe` on the activation socket or on `path`; returns a description for the log.
    static func open(
        _ pipe: UnsafeMutablePointer<uv_pipe_t>, loop: UnsafeMutablePointer<uv_loop_t>,
        path: String
    ) throws(DaemonError) -> String {
        try uvCheck(uv_pipe_init(loop, pipe, 0), "uv_pipe_init")
        if let fd = activationDescriptor() {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            try uvCheck(uv_pipe_open(pipe, fd), "uv_pipe_open(LISTEN_FDS)")
            try uvCheck(uv_listen(asStream(pipe), DaemonConfig.listenBacklog, onConnection), "uv_listen")
            return "socket from systemd (fd \(fd))"
        }
        try removeStaleSocket(path)
        // Others must reach the socket (its own mode, 0660, decides who may connect).
        ensureParentDirectory(path, mode: 0o755)
        let previous = umask(0o117)  // the socket is created 0660, never briefly wider
        defer { umask(previous) }
        try uvCheck(uv_pipe_bind(pipe, path), "uv_pipe_bind(\(path))")
        if chmod(path, socketMode) != 0 { throw systemError("chmod(\(path))") }
        try uvCheck(uv_listen(asStream(pipe), DaemonConfig.listenBacklog, onConnection), "uv_listen(\(path))")
        return path
    }

    /// The activation socket when systemd started us with one (LISTEN_PID is our pid).
    static func activationDescriptor() -> Int32? {
        guard let pidText = getenv("LISTEN_PID"), let fdsText = getenv("LISTEN_FDS"),
            let pid = Int32(String(cString: pidText)), pid == getpid(),
            let count = Int(String(cString: fdsText)), count >= 1
        else { return nil }
        if count > 1 { Log.warning("systemd passed \(count) sockets; serving the first") }
        // Children (there are none today) must not think the sockets are theirs.
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return activationFirstDescriptor
    }

    /// A socket file left by a daemon that died is removed; one a live daemon answers on is not.
    static func removeStaleSocket(_ path: String) throws(DaemonError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw .config("\(path) exists and is not a socket") }
        if canConnect(path) { throw .socketInUse(path) }
        if unlink(path) != 0 { throw systemError("unlink(\(path))") }
    }

    static func canConnect(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        return withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }

    /// Creates the folder of the socket or the database (one level) with exactly `mode` when run
    /// by hand (systemd's RuntimeDirectory=/StateDirectory= do it otherwise); true when it was
    /// created. The mode is set with chmod because the daemon's umask (077) would narrow it.
    @discardableResult
    static func ensureParentDirectory(_ path: String, mode: mode_t) -> Bool {
        guard let parent = parentDirectory(path), access(parent, F_OK) != 0 else { return false }
        guard mkdir(parent, 0o700) == 0 else { return false }
        _ = chmod(parent, mode)
        return true
    }

    /// "/a/b" for "/a/b/c"; nil for a path with no folder part or one right under "/".
    static func parentDirectory(_ path: String) -> String? {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return nil }
        return String(path[..<slash])
    }

    /// The connecting process's uid, from the kernel (SO_PEERCRED): it cannot be forged.
    static func peerUID(_ client: UnsafeMutablePointer<uv_stream_t>) -> UInt32? {
        var fd: uv_os_fd_t = -1
        guard uv_fileno(asHandle(client), &fd) == 0 else { return nil }
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return credentials.uid
    }
}

extension Listener {
    /// Binds and listens on `HOST:PORT` (`[V6]:PORT` for IPv6; `localhost` is 127.0.0.1).
    static func openTCP(_ tcp: UnsafeMutablePointer<uv_tcp_t>, loop: UnsafeMutablePointer<uv_loop_t>, address: String)
        throws(DaemonError)
    {
        guard let (host, port) = splitHostPort(address) else { throw .config("--listen: expected HOST:PORT, got \"\(address)\"") }
        var storage = sockaddr_storage()
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                host.contains(":")
                    ? uv_ip6_addr(host, Int32(port), v6)
                    : v6.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { uv_ip4_addr(host, Int32(port), $0) }
            }
        }
        guard rc == 0 else { throw .config("--listen: \"\(host)\" is not a numeric IP address") }
        try uvCheck(uv_tcp_init(loop, tcp), "uv_tcp_init")
        let bound = withUnsafePointer(to: &storage) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_bind(tcp, $0, 0) } }
        try uvCheck(bound, "uv_tcp_bind(\(address))")
        try uvCheck(uv_listen(asStream(tcp), DaemonConfig.listenBacklog, onConnection), "uv_listen(\(address))")
    }

    /// ("127.0.0.1", 8080) from "127.0.0.1:8080"; ("::1", 8080) from "[::1]:8080".
    static func splitHostPort(_ address: String) -> (String, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { host = "127.0.0.1" }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// 127.0.0.0/8 and ::1: only this machine can connect.
    static func isLoopback(_ address: String) -> Bool {
        guard let (host, _) = splitHostPort(address) else { return false }
        return host.hasPrefix("127.") || host == "::1"
    }
}

/// Linux's `struct ucred` (SO_PEERCRED), which Glibc's module does not export.
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

private func onConnection(_ server: UnsafeMutablePointer<uv_stream_t>?, _ status: Int32) {
    guard let server else { return }
    Daemon.from(server.pointee.loop).acceptClient(server: server, status: status)
}
