import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// The store side of a shared slmd: private files outside systemd, per-uid quotas as settings,
/// and no empty conversation left by a refused first message.
final class DaemonStoreIsolationTests: XCTestCase {
    static func mode(_ path: String) -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0o7777 }
        return info.st_mode & 0o777
    }

    /// With the usual umask 022, slmd run by hand still creates its database folder 0700 and the
    /// database, -wal and -shm files 0600; the socket keeps its 0660.
    func testFilesCreatedOutsideSystemdArePrivate() throws {
        let previous = umask(0o022)  // slmd inherits it
        defer { umask(previous) }
        let directory = NSTemporaryDirectory() + "slmd-private-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let folder = directory + "/state"
        let database = folder + "/conversations.db"
        let d = try DaemonHarness(arguments: ["--db", database], directory: directory)
        defer {
            d.stop()
            d.removeFiles()
        }
        let socket = try d.connect()
        try socket.send(#"{"id":1,"op":"chat","message":"Hi","max_tokens":2,"temperature":0}"#)
        XCTAssertEqual(try DaemonHarness.collectUntilDone(socket, id: .number(1)).last?.name, "done")
        XCTAssertEqual(Self.mode(folder), 0o700, "database folder")
        for file in [database, database + "-wal", database + "-shm"] {
            XCTAssertEqual(Self.mode(file), 0o600, file)
        }
        XCTAssertEqual(Self.mode(d.socketPath), 0o660, "the socket")
        XCTAssertFalse(d.log.contains("accessible to other users"), d.log)
    }

    func testAnExistingDatabaseFolderOthersCanReadGetsAWarning() throws {
        let directory = NSTemporaryDirectory() + "slmd-open-" + UUID().uuidString.prefix(8)
        let folder = directory + "/state"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(folder, 0o755), 0)
        let d = try DaemonHarness(arguments: ["--db", folder + "/conversations.db"], directory: directory)
        defer {
            d.stop()
            d.removeFiles()
        }
        XCTAssertEqual(try d.request(#"{"id":1,"op":"info"}"#).first?.name, "info")
        XCTAssertTrue(d.logShows("is accessible to other users (mode 755)"), d.log)
        XCTAssertEqual(Self.mode(folder), 0o755, "an existing folder is left as it is")
    }

    func testQuotasAreSettingsInInfoAndARefusedFirstMessageLeavesNoConversation() throws {
        let d = try DaemonHarness(arguments: ["--max-conversations-per-uid", "1", "--max-stored-bytes-per-uid", "20000"])
        defer {
            d.stop()
            d.removeFiles()
        }
        let limits = try XCTUnwrap(d.request(#"{"id":1,"op":"info"}"#)[0]["limits"])
        XCTAssertEqual(limits["max_conversations_per_uid"], .number(1))
        XCTAssertEqual(limits["max_stored_bytes_per_uid"], .number(20000))

        let socket = try d.connect()
        // Longer than the 1,024-token context: refused, and no conversation is left behind.
        let long = String(repeating: "garden ", count: 1500)
        try socket.send(#"{"id":2,"op":"chat","message":\#(JSONValue.string(long).serialized),"max_tokens":2}"#)
        XCTAssertEqual(try socket.readEvent().code, "too_large")
        try socket.send(#"{"id":3,"op":"conversations.list"}"#)
        XCTAssertEqual(try socket.readEvent()["conversations"], .array([]))

        try socket.send(#"{"id":4,"op":"chat","message":"Hi","max_tokens":2,"temperature":0}"#)
        let done = try XCTUnwrap(DaemonHarness.collectUntilDone(socket, id: .number(4)).last)
        XCTAssertEqual(done.name, "done", done.body.serialized)
        let conversation = try XCTUnwrap(done["conversation"]?.integerValue)

        // A second conversation is over the count; the first one goes on.
        try socket.send(#"{"id":5,"op":"chat","message":"Hello again","max_tokens":2,"temperature":0}"#)
        let refused = try socket.readEvent()
        XCTAssertEqual(refused.code, "quota_exceeded")
        XCTAssertTrue(refused.error?.message.contains("max-conversations-per-uid") ?? false, refused.body.serialized)
        try socket.send(#"{"id":6,"op":"chat","conversation":\#(conversation),"message":"Bye","max_tokens":2,"temperature":0}"#)
        XCTAssertEqual(try DaemonHarness.collectUntilDone(socket, id: .number(6)).last?.name, "done")

        // A message bigger than the bytes left is refused before it runs.
        let big = String(repeating: "a", count: 20001)
        try socket.send(#"{"id":7,"op":"chat","conversation":\#(conversation),"message":"\#(big)","max_tokens":2}"#)
        let over = try socket.readEvent()
        XCTAssertEqual(over.code, "quota_exceeded")
        XCTAssertTrue(over.error?.message.contains("max-stored-bytes-per-uid") ?? false, over.body.serialized)
        try socket.send(#"{"id":8,"op":"conversations.list"}"#)
        let list = try XCTUnwrap(socket.readEvent()["conversations"]?.arrayValue)
        XCTAssertEqual(list.map { $0["id"]?.integerValue }, [conversation])
        XCTAssertEqual(list.first?["message_count"], .number(4))
    }
}
