#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension MappedFile {
    /// Locks the whole mapping in RAM (`mlock`), so a device under memory pressure never pages the
    /// weights out in the middle of a generation. The lock goes with the mapping.
    public func lockInMemory() throws(ModelError) {
        guard let base, size > 0 else { return }
        if mlock(base, size) != 0 {
            let reason = String(cString: strerror(errno))
            throw .allocationFailed(bytes: size, reason: "mlock of the weights failed: \(reason) (raise RLIMIT_MEMLOCK, e.g. `ulimit -l`)")
        }
    }
}
