import SLMCompute
import SLMGrammar
import SLMModels
import Synchronization

/// A loaded model: the mapped GGUF, its architecture, its tokenizer and the worker pool. Read-only
/// after loading; each conversation gets its own `InferenceState` from `makeState`.
public final class Engine: @unchecked Sendable {
    /// Default context when the user gives none: the model's own, capped so a small board does
    /// not reserve a KV cache for 128k positions.
    public static let defaultMaxContext = 4096
    /// Tokens per forward pass during prompt processing.
    public static let promptBatch = 64

    public let file: GGUFFile
    public let model: any LanguageModel
    public let tokenizer: Tokenizer
    public let pool: ThreadPool
    /// Whether some weight type of the model sums in an order that depends on the batch a token
    /// is computed in (`slm_sum_order_depends_on_batch`), so a prompt position's numerics depend
    /// on its micro-batch's size and not only on its attention mode (`PromptCache`).
    public let sumOrderDependsOnBatch: Bool
    /// `grammarVocabulary`, built on first use.
    let grammarVocabularyStore = Mutex<GrammarVocabulary?>(nil)

    /// - Parameters:
    ///   - threads: worker threads; nil = one per CPU in `cpus`.
    ///   - cpus: CPUs to pin the workers to (checked against the machine); nil = the big cores
    ///     (`CPUTopology.bigCores`).
    public convenience init(modelPath: String, threads: Int? = nil, cpus: [Int]? = nil) throws {
        try self.init(modelPath: modelPath, pool: WorkerPlacement(threads: threads, cpus: cpus).makePool())
    }

    public init(modelPath: String, pool: ThreadPool) throws {
        file = try GGUFFile(path: modelPath)
        model = try ModelRegistry.load(file)
        tokenizer = try Tokenizer(vocabulary: TokenizerVocabulary(gguf: file))
        guard tokenizer.vocabularySize <= model.vocabularySize else {
            throw ModelError.invalidHyperparameter(
                key: "tokenizer.ggml.tokens", value: "\(tokenizer.vocabularySize) tokens",
                reason: "more tokens than the model's \(model.vocabularySize) output rows")
        }
        self.pool = pool
        sumOrderDependsOnBatch = Set(file.tensors.map(\.type)).contains { $0.sumOrderDependsOnBatch }
        file.prefetchTensorData()
    }

    public func defaultContextLength() -> Int { min(model.trainedContextLength, Self.defaultMaxContext) }

    /// A state for generation (embeddings make their own, `EmbeddingRun`).
    public func makeState(contextLength: Int? = nil, cacheTypes: KVCacheTypes = .f16) throws -> InferenceState {
        guard model.generatesText else {
            throw ModelError.unsupportedFeature(
                "text generation: '\(model.architecture)' is an encoder, it only gives embeddings (slm embed)")
        }
        let n = contextLength ?? defaultContextLength()
        guard n >= 8 else { throw ModelError.contextTooSmall(requested: n, minimum: 8) }
        return try model.makeState(contextLength: n, maxBatch: Self.promptBatch, cacheTypes: cacheTypes)
    }

    /// Feeds `tokens` to the model starting at `state.position` and returns the logits after the
    /// last one (vocabularySize floats).
    public func evaluate(_ tokens: [Int32], state: InferenceState, into logits: inout [Float]) throws {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        guard state.position + tokens.count <= state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: state.position + tokens.count)
        }
        try evaluateChunk(tokens[...], at: 0, ofRequestSized: tokens.count, state: state, into: &logits)
    }

    /// Feeds the part of a request of `requestSize` tokens that starts at `offsetInRequest`, so a
    /// caller can interleave a long prompt with other work and still get the numerics of one
    /// call. `offsetInRequest` must be a multiple of `promptBatch`.
    public func evaluateChunk(
        _ chunk: ArraySlice<Int32>, at offsetInRequest: Int, ofRequestSized requestSize: Int,
        state: InferenceState, into logits: inout [Float]
    ) throws {
        guard !chunk.isEmpty else { throw ModelError.emptyInput }
        guard state.position + chunk.count <= state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: state.position + chunk.count)
        }
        if logits.count != model.vocabularySize { logits = [Float](repeating: 0, count: model.vocabularySize) }
        defer {
            state.logitsNeeded = true
            state.batchPlacement = nil
        }
        try chunk.withUnsafeBufferPointer { all in
            try logits.withUnsafeMutableBufferPointer { out in
                var start = 0
                while start < all.count {
                    let end = min(all.count, start + Self.promptBatch)
                    state.logitsNeeded = end == all.count
                    // The numerics follow the whole request (up to llama.cpp's micro-batch), as
                    // llama.cpp's do for a prompt it processes in one batch.
                    state.prepareChunk(at: offsetInRequest + start, ofRequest: requestSize)
                    try model.forward(
                        UnsafeBufferPointer(rebasing: all[start..<end]), state: state, pool: pool,
                        allLogits: false, logits: out.baseAddress!)
                    start = end
                }
            }
        }
    }

    /// Logits at every position of `tokens` from an empty context: (tokens.count, vocabularySize).
    public func logitsAtEveryPosition(_ tokens: [Int32], state: InferenceState) throws -> [[Float]] {
        state.reset()
        let vocab = model.vocabularySize
        var rows: [[Float]] = []
        var chunk = [Float](repeating: 0, count: Self.promptBatch * vocab)
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + Self.promptBatch)
            state.prepareChunk(at: start, ofRequest: tokens.count)
            defer { state.batchPlacement = nil }
            try tokens.withUnsafeBufferPointer { all in
                try chunk.withUnsafeMutableBufferPointer { out in
                    try model.forward(
                        UnsafeBufferPointer(rebasing: all[start..<end]), state: state, pool: pool,
                        allLogits: true, logits: out.baseAddress!)
                }
            }
            for t in 0..<(end - start) { rows.append(Array(chunk[(t * vocab)..<((t + 1) * vocab)])) }
            start = end
        }
        return rows
    }
}
