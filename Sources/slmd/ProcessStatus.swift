#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Memory figures of this process from /proc/self/status, in bytes.
struct ProcessStatus {
    var residentBytes = 0  // VmRSS
    var anonymousBytes = 0  // RssAnon: what the process itself allocated
    var fileBytes = 0  // RssFile: mapped files (the model) that are in memory

    static func current() -> ProcessStatus {
        var status = ProcessStatus()
        guard let f = fopen("/proc/self/status", "r") else { return status }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 256)
        while fgets(&buffer, Int32(buffer.count), f) != nil {
            let line = String(cString: buffer)
            func kilobytes() -> Int {
                Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.map(String.init) ?? "") ?? 0
            }
            if line.hasPrefix("VmRSS:") {
                status.residentBytes = kilobytes() * 1024
            } else if line.hasPrefix("RssAnon:") {
                status.anonymousBytes = kilobytes() * 1024
            } else if line.hasPrefix("RssFile:") {
                status.fileBytes = kilobytes() * 1024
            }
        }
        return status
    }
}
