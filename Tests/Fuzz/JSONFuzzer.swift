// libFuzzer target `json`: the strict JSON parser under both duplicate-key policies, and the
// writer: whatever parses must serialize to text that parses back to an equal value (the
// protocol writes replies with this writer and clients read them with this parser).
import SLMJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? JSONParser.parse(bytes)
    guard let value = try? JSONParser.parse(bytes, options: .init(duplicateKeys: .keepLast)) else { return 0 }
    let text = value.serialized
    do {
        let again = try JSONParser.parse(text, options: .init(duplicateKeys: .keepLast))
        if again != value { fatalError("round trip changed the value: \(text)") }
    } catch {
        fatalError("the writer's output does not parse (\(error)): \(text)")
    }
    return 0
}
