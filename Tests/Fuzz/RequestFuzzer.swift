// libFuzzer target `request`: one protocol line, as the daemon hands it to the decoder after
// splitting the stream at '\n'. Any input must either decode or throw a `RequestError`; a trap,
// a sanitizer report or a hang is a finding. Built by scripts/fuzz.sh, not by `swift build`.
import SLMJSON
import SLMProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The daemon never passes a line longer than the limit; bigger inputs would test nothing new.
    guard size <= ProtocolLimits.maxLineBytes else { return -1 }
    let line = Array(UnsafeBufferPointer(start: data, count: size))
    if let request = try? Request.decode(line) {
        // A decoded request is echoed in replies: its id and op name must serialize.
        _ = request.id.description
        _ = request.op.name
    }
    return 0
}
