// libFuzzer target `gguf`: a whole GGUF file. The reader maps a path, so each input is written
// to one unlinked temporary file that is reopened through /proc/self/fd (no path is left
// behind, and no reader code changes for the fuzzer). After the header parses, the harness
// does what loading a model does with the metadata before any weight is touched: typed
// accessors, the tokenizer's vocabulary and merges, and the chat template.
// Model construction (`ModelRegistry.load`) is left out: it reads hyperparameters into table
// sizes, which belongs to the loader limits and would make every run an OOM hunt.
import Glibc
import SLMCore

private let scratch: (fd: Int32, path: String) = {
    var template = Array("/tmp/slm-fuzz-gguf-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    precondition(fd >= 0, "mkstemp failed")
    unlink(String(cString: template))
    return (fd, "/proc/self/fd/\(fd)")
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard ftruncate(scratch.fd, 0) == 0, pwrite(scratch.fd, data, size, 0) == size else {
        fatalError("cannot write the scratch file")
    }
    guard let file = try? GGUFFile(path: scratch.path) else { return 0 }
    for key in file.metadataKeys {
        _ = file.string(key)
        _ = file.int(key)
        _ = file.float(key)
        _ = file.stringArray(key)
        _ = file.int32Array(key)
        _ = file.floatArray(key)
    }
    _ = try? file.architecture()
    for tensor in file.tensors {
        // Every tensor was checked to lie inside the file: touch its first and last byte.
        let p = file.data(of: tensor)
        _ = p.load(as: UInt8.self)
        _ = p.load(fromByteOffset: tensor.byteCount - 1, as: UInt8.self)
        _ = file.tensor(named: tensor.name)
    }
    if let tokenizer = try? Tokenizer(gguf: file) {
        // A hostile vocabulary (odd merges, empty pieces, byte tokens) must still encode.
        let ids = tokenizer.encode("Hello wörld <|im_start|> 12 \u{1F600}", addSpecial: true, parseSpecial: true)
        _ = tokenizer.decode(ids)
    }
    if let format = try? ModelChatFormat(file: file) {
        _ = try? format.render([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true)
    }
    return 0
}
