import ArgumentParser
import SLMCore
import SLMJSON

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract:
            "Print a GGUF file's metadata and tensor table, with --memory the predicted peak memory of a setting, or with --cpus the CPUs slm would run on."
    )

    @Argument(help: "GGUF model file.")
    var model: String?

    @Flag(name: .customLong("cpus"), help: "Print the CPUs the worker threads would be pinned to by default, and why.")
    var cpus = false

    @Option(name: .customLong("max-array"), help: "Array items to show per key (0 = all).")
    var maxArray: Int = 8

    @Flag(name: .customLong("no-tensors"), help: "Print only the metadata.")
    var noTensors = false

    @Flag(
        name: .customLong("memory"),
        help:
            "Print the predicted peak resident memory of running the model with the setting below, and its parts (the prediction slmd's --memory-budget uses)."
    )
    var memory = false

    /// With --memory: `-c N` and `-ctk T` / `-ctv T`, as `run` and `chat` take them.
    @OptionGroup var context: ContextOptions

    @Option(name: .customLong("parallel"), help: "With --memory: contexts filled at once (slmd's max-active).")
    var parallel = 1

    @Option(name: .shortAndLong, help: "With --memory: worker threads (default: one per big core).")
    var threads: Int?

    func validate() throws {
        if model == nil && !cpus { throw ValidationError("give a GGUF file, or --cpus") }
        if memory && model == nil { throw ValidationError("--memory needs a GGUF file") }
        if let n = context.contextLength, n > 1 << 20 { throw ValidationError("-c must be at most \(1 << 20), got \(n)") }
        if parallel < 1 || parallel > 256 { throw ValidationError("--parallel must be in 1...256, got \(parallel)") }
        if let threads { try PlacementOptions.checkThreads(threads) }
    }

    func run() throws {
        if cpus { printCPUChoice() }
        guard let model else { return }
        let file: GGUFFile
        do {
            file = try GGUFFile(path: model)
        } catch {
            throw Console.fail(error)
        }
        if memory {
            try printMemoryPlan(file)
            return
        }
        var out = "file: \(file.path)\n"
        out += "GGUF version \(file.version), \(file.metadata.count) metadata keys, \(file.tensors.count) tensors, "
        out += "alignment \(file.alignment), data at offset \(file.dataOffset)\n\n"
        let keyWidth = file.metadataKeys.map(\.count).max() ?? 0
        for key in file.metadataKeys {
            guard let value = file.metadata[key] else { continue }
            out += pad(key, keyWidth) + "  " + pad(value.typeName, 12) + "  " + render(value) + "\n"
        }
        Console.out(out)
        guard !noTensors else { return }

        out = "\n"
        let nameWidth = file.tensors.map(\.name.count).max() ?? 4
        out += pad("tensor", nameWidth) + "  " + pad("type", 6) + "  " + pad("shape", 20) + "  " + pad("bytes", 12) + "  offset\n"
        var total = 0
        for t in file.tensors {
            let shape = "[" + t.dimensions.map(String.init).joined(separator: ", ") + "]"
            out +=
                pad(t.name, nameWidth) + "  " + pad(t.type.description, 6) + "  " + pad(shape, 20) + "  "
                + pad("\(t.byteCount)", 12) + "  \(t.fileOffset)\n"
            total += t.byteCount
        }
        out += "\n\(file.tensors.count) tensors, \(total) bytes of tensor data\n"
        Console.out(out)
    }

    /// The prediction `MemoryPlan` makes for this setting, part by part.
    private func printMemoryPlan(_ file: GGUFFile) throws {
        let languageModel: any LanguageModel
        do {
            languageModel = try ModelRegistry.load(file)
        } catch {
            throw Console.fail(error)
        }
        let types = try context.cacheTypes.types()
        let shape = languageModel.stateShape
        for (type, width, option) in [(types.key, shape.keyWidth, "--cache-type-k"), (types.value, shape.valueWidth, "--cache-type-v")]
        where !type.supports(width: width) {
            throw ValidationError(
                "\(option) \(type.rawValue): rows of \(width) values are not a multiple of its \(type.blockLength)-value blocks")
        }
        let contextLength = context.contextLength ?? min(languageModel.trainedContextLength, Engine.defaultMaxContext)
        let workers = threads ?? CPUTopology.current().bigCores().cpus.count
        let plan = MemoryPlan(
            file: file, model: languageModel, contextLength: contextLength, contexts: parallel, cacheTypes: types, threads: workers)
        func mib(_ bytes: Int) -> String {
            let tenths = (bytes * 10 + (1 << 19)) >> 20
            return "\(tenths / 10).\(tenths % 10) MiB"
        }
        let rows: [(String, Int, String)] = [
            ("weights", plan.weightsBytes, "the mapped file; every token reads all of it"),
            ("runtime", plan.runtimeBytes, "process baseline + model heap (\(languageModel.vocabularySize) vocabulary entries)"),
            (
                "KV cache", plan.contexts * plan.kvBytesPerContext,
                "\(plan.contexts) × \(contextLength) positions × \(shape.kvBytesPerPosition(types)) bytes (K \(types.key.rawValue), V \(types.value.rawValue))"
            ),
            (
                "scratch", plan.contexts * plan.scratchBytesPerContext,
                "\(plan.contexts) × \(mib(plan.scratchBytesPerContext)) (\(workers) threads)"
            ),
        ]
        var out = "predicted peak resident memory of \(file.path)\n"
        out += "with \(plan.contexts) filled context\(plan.contexts == 1 ? "" : "s") of \(contextLength) positions:\n\n"
        for (name, bytes, why) in rows { out += "  " + pad(name, 9) + pad(mib(bytes), 12) + why + "\n" }
        out += "  " + pad("total", 9) + mib(plan.totalBytes) + " (\(plan.totalBytes) bytes)\n"
        out += "\nper extra context: \(mib(plan.sessionBytes)); slmd's memory-budget admits work with the same figures\n"
        Console.out(out)
    }

    private func printCPUChoice() {
        let topology = CPUTopology.current()
        let choice = topology.bigCores()
        var out = "available CPUs: \(CPUTopology.format(topology.available))\n"
        for cpu in topology.available {
            let frequency = topology.maxFrequencyKHz[cpu].map { "\($0 / 1000) MHz" } ?? "unknown"
            out += "  cpu\(cpu): max frequency \(frequency)\n"
        }
        out += "default: \(choice.cpus.count) threads pinned to CPUs \(CPUTopology.format(choice.cpus))\n"
        out += "why: \(choice.reason)\n"
        Console.out(out + (model == nil ? "" : "\n"))
    }

    private func render(_ value: GGUFValue) -> String {
        switch value {
        case .string(let s): return quote(s, limit: 200)
        case .array(let items):
            let shown = maxArray == 0 ? items[...] : items.prefix(maxArray)
            var text = "[" + shown.map(render).joined(separator: ", ")
            if shown.count < items.count { text += ", … (\(items.count) items)" }
            return text + "]"
        case .scalarArray(let a):
            let shown = maxArray == 0 ? a.count : min(a.count, maxArray)
            var text = "[" + (0..<shown).map { render(a[$0]) }.joined(separator: ", ")
            if shown < a.count { text += ", … (\(a.count) items)" }
            return text + "]"
        case .uint8(let v): return "\(v)"
        case .int8(let v): return "\(v)"
        case .uint16(let v): return "\(v)"
        case .int16(let v): return "\(v)"
        case .uint32(let v): return "\(v)"
        case .int32(let v): return "\(v)"
        case .uint64(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        }
    }

    /// A one-line, escaped rendering of a string, shortened past `limit` characters.
    /// `s` as a JSON string literal, cut after `limit` characters with an ellipsis inside the quotes.
    private func quote(_ s: String, limit: Int) -> String {
        let scalars = s.unicodeScalars
        guard scalars.count > limit else { return JSONValue.quoted(s) }
        var text = JSONValue.quoted(String(String.UnicodeScalarView(scalars.prefix(limit))))
        text.removeLast()
        return text + "…\""
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
