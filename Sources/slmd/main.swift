import SLMCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// slmd: serves models to local clients over a Unix socket (protocol in docs/protocol.md).
/// Exit status: 0 after a clean SIGTERM/SIGINT shutdown, 2 for usage errors, 1 otherwise.
func main() -> Int32 {
    let config: DaemonConfig
    do {
        config = try DaemonConfig.parse(Array(CommandLine.arguments.dropFirst()))
    } catch {
        if case .usage(let problem) = error {
            if let problem { fputs("slmd: \(problem)\n", stderr) }
            fputs(DaemonConfig.usage + "\n", problem == nil ? stdout : stderr)
            return problem == nil ? 0 : 2
        }
        fputs("slmd: \(error)\n", stderr)
        return 2
    }
    Log.threshold = config.logLevel
    // Everything slmd creates (database folder, database, -wal, -shm) is private, also when run
    // outside systemd (whose unit sets UMask= too). The socket gets its 0660 from its own
    // umask/chmod in `Listener.open`.
    umask(0o077)
    // A client that disconnects while we write must not kill the daemon.
    signal(SIGPIPE, SIG_IGN)

    // A CPU selection the machine cannot give is a usage error, found before anything starts.
    do throws(CPUSelectionError) {
        _ = try WorkerPlacement(threads: config.threads, cpus: config.cpus).workerCPUs()
    } catch {
        Log.error(error.message(threadsName: "--threads", cpusName: "--cpus"))
        return 2
    }
    do {
        let apiKey = try config.readAPIKey()
        let store = try StoreAccess.open(config: config)
        let daemon = try Daemon(config: config, store: store, apiKey: apiKey)
        try daemon.run()
        store?.close()
    } catch {
        Log.error("\(error)")
        return 1
    }
    Log.notice("stopped")
    return 0
}

exit(main())
