import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value bound to a statement parameter. SQL text is never built from data: every value goes
/// through a bound parameter.
enum SQLValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// One SQLite connection: prepare/step/finalize, transactions, and the one place where SQLite
/// result codes become `StoreError`s. Not thread-safe by itself; `ConversationStore` serialises
/// every use behind its lock (the connection is opened NOMUTEX for that reason).
final class Database {
    private var handle: OpaquePointer?

    /// Mode of a database file the store creates. SQLite gives the `-wal` and `-shm` files the
    /// main file's mode, so creating it first (rather than letting SQLite create it 0644 minus the
    /// umask) makes all three private. A umask would be process-wide, and libslm's host has threads.
    static let fileMode: mode_t = 0o600

    init(path: String) throws(StoreError) {
        // ":memory:" and "" are SQLite's in-memory and temporary databases, not files. When the
        // file cannot be created here (no such folder, no permission), sqlite3_open_v2 below
        // reports why.
        if !path.isEmpty && path != ":memory:" { createFileIfMissing(path, mode: Database.fileMode) }
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw Database.error(code: rc, message: "cannot open \(path): \(message)")
        }
        handle = db
    }

    deinit { close() }

    var isOpen: Bool { handle != nil }

    func close() {
        guard let db = handle else { return }
        // close_v2 defers the real close until every statement is finalized; statements here are
        // finalized by their owners' deinit, so nothing leaks.
        sqlite3_close_v2(db)
        handle = nil
    }

    private func connection() throws(StoreError) -> OpaquePointer {
        guard let db = handle else { throw .io("the conversation store is closed") }
        return db
    }

    /// Runs SQL without parameters: schema scripts and pragmas only.
    func execute(_ sql: String) throws(StoreError) {
        let db = try connection()
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errorMessage)
            throw Database.error(code: rc, message: message)
        }
    }

    func prepare(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Statement {
        let db = try connection()
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw lastError(rc) }
        let statement = Statement(handle: stmt, database: self)
        try statement.bind(values)
        return statement
    }

    /// Runs a statement that returns no rows.
    func run(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) {
        let statement = try prepare(sql, values)
        while try statement.step() {}
    }

    /// The first column of the first row, as an integer (nil when there is no row).
    /// The first column of the first row as bytes, nil without a row or for NULL.
    func blob(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> [UInt8]? {
        let statement = try prepare(sql, values)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.blob(0)
    }

    func integer(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Int64? {
        let statement = try prepare(sql, values)
        return try statement.step() ? statement.int64(0) : nil
    }

    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }
    var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so a
    /// busy database fails at BEGIN instead of half-way). Any error rolls everything back.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            rollback()
            throw error
        }
    }

    /// Rolls back if a transaction is still open; SQLite may already have rolled back by itself
    /// (SQLITE_FULL, SQLITE_IOERR), and a failing ROLLBACK changes nothing on disk.
    private func rollback() {
        guard let db = handle, sqlite3_get_autocommit(db) == 0 else { return }
        sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
    }

    func lastError(_ rc: Int32) -> StoreError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
        return Database.error(code: rc, message: message)
    }

    /// The one place where SQLite result codes become `StoreError`s.
    static func error(code: Int32, message: String) -> StoreError {
        switch code & 0xFF {  // the primary code of an extended result code
        case SQLITE_FULL: return .diskFull(message)
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy(message)
        case SQLITE_IOERR, SQLITE_CANTOPEN: return .io(message)
        default: return .sqlite(code: code, message: message)
        }
    }
}

/// Creates `path` empty with `mode` unless it exists (an existing file keeps its mode and bytes).
private func createFileIfMissing(_ path: String, mode: mode_t) {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode)
    if fd >= 0 { close(fd) }
}

/// A prepared statement, finalized when released.
final class Statement {
    private let handle: OpaquePointer
    private let database: Database

    fileprivate init(handle: OpaquePointer, database: Database) {
        self.handle = handle
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ values: [SQLValue]) throws(StoreError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let v): rc = sqlite3_bind_int64(handle, index, v)
            case .text(let s): rc = sqlite3_bind_text(handle, index, s, -1, csqlite_transient())
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { raw in
                    // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
                    sqlite3_bind_blob64(
                        handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                        sqlite3_uint64(raw.count), csqlite_transient())
                }
            case .null: rc = sqlite3_bind_null(handle, index)
            }
            if rc != SQLITE_OK { throw database.lastError(rc) }
        }
    }

    /// Binds a blob without copying it: only valid while `bytes` is alive, so the statement must
    /// be stepped inside the same `withUnsafeBytes` (used for megabyte KV snapshots).
    func bindBorrowedBlob(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        let rc = sqlite3_bind_blob64(
            handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
            sqlite3_uint64(bytes.count), nil)  // nil = SQLITE_STATIC
        if rc != SQLITE_OK { throw database.lastError(rc) }
    }

    /// Advances; true while there is a row to read.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.lastError(rc)
        }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    /// Text as stored; bytes that are not UTF-8 (a database edited by hand) are repaired, never trusted.
    func text(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }

    /// The blob's bytes lent to `body` without a copy; valid until the next step.
    func withBlob<T>(_ column: Int32, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let p = sqlite3_column_blob(handle, column) else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body(UnsafeRawBufferPointer(start: p, count: count))
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let p = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }
}
