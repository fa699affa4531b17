import Foundation
import SLMProtocol
import XCTest

/// What systemd does to slmd, without systemd running: socket activation (LISTEN_FDS, through
/// systemd-socket-activate) and the READY=1/STOPPING=1 notifications (NOTIFY_SOCKET).
final class DaemonSystemdTests: XCTestCase {
    func testSocketActivationAndNotifications() throws {
        let activate = "/usr/bin/systemd-socket-activate"
        guard FileManager.default.isExecutableFile(atPath: activate) else { throw XCTSkip("systemd-socket-activate is not installed") }
        let directory = NSTemporaryDirectory() + "slmd-systemd-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notifyPath = directory + "/notify.sock"
        let notify = try DatagramListener(path: notifyPath)

        // systemd-socket-activate listens on the daemon's usual path and passes it as fd 3.
        let d = try DaemonHarness(
            arguments: ["--socket", directory + "/unused.sock"], directory: directory,
            launcher: [activate, "-l", directory + "/slmd.sock", "-E", "NOTIFY_SOCKET=" + notifyPath],
            environment: ["NOTIFY_SOCKET": notifyPath])  // passed on by -E
        XCTAssertTrue(try XCTUnwrap(notify.receive()).contains("READY=1"))
        XCTAssertEqual(try d.request(#"{"id":1,"op":"info"}"#)[0].name, "info")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/unused.sock"), "bound its own socket")
        XCTAssertTrue(d.logShows("socket from systemd"), d.log)
        let (status, _) = d.terminate()
        XCTAssertEqual(status, 0)
        XCTAssertTrue(try XCTUnwrap(notify.receive()).contains("STOPPING=1"))
        d.stop()
    }
}

/// A bound AF_UNIX datagram socket, like systemd's notify socket.
final class DatagramListener {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw HarnessError.unexpected("bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }
}
