/// The one version of slm: the engine's, printed by `slm --version`, reported by `slmd`'s `info`
/// and log, returned by `slm_version()` and written into `slm.pc` (scripts/build-libslm.sh reads
/// it from this line).
public enum EngineVersion {
    public static let string = "0.1.0"
}
