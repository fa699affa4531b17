import SLMCompute

/// A prediction of the peak resident memory of running a model with some number of contexts:
/// the one function `slm inspect --memory` prints and slmd's memory budget admits work with.
///
/// - weights: the mapped file. Every forward pass reads every weight, so after the first token
///   all of the tensor data is resident (file pages, shared with other processes mapping the
///   same file, but counted in this process's RSS) — except a token-embedding table that is not
///   also the output matrix: only the rows of the tokens seen are read (Qwen2.5-0.5B: 89 MiB of
///   its 469 MiB stay on disk).
/// - each context: its KV cache at its full context length in the cache's types
///   (`StateShape.kvBytesPerPosition`), which a full context touches, and its scratch buffers
///   (`StateShape.scratchBytes`).
/// - runtime: the process before any model (executable, Swift runtime and libraries, heap) plus
///   what a loaded model keeps on the heap besides its weights (tokenizer tables, the chat
///   template, per-model tables), estimated per vocabulary entry. Both fitted to slmd (release
///   build, x86-64 Linux) serving SmolLM2 (49k entries: 14.7 MiB anonymous + 13 MiB of
///   executable and libraries) and Qwen2.5 (152k entries: 43.8 MiB + 13 MiB).
public struct MemoryPlan: Sendable, Equatable {
    /// Resident memory of slmd without a model's heap: executable, libraries, runtime.
    public static let runtimeBaselineBytes = 14 << 20
    /// Heap per vocabulary entry of a loaded model (token strings and their index, the BPE
    /// merge ranks), the slope between SmolLM2 (49k entries) and Qwen2.5 (152k).
    public static let heapBytesPerVocabularyEntry = 304

    public var weightsBytes: Int
    public var runtimeBytes: Int
    public var kvBytesPerContext: Int
    public var scratchBytesPerContext: Int
    public var contexts: Int
    public var contextLength: Int
    public var cacheTypes: KVCacheTypes

    /// What one more context (a session) costs.
    public var sessionBytes: Int { kvBytesPerContext + scratchBytesPerContext }
    /// The model's part without any context: weights and its heap.
    public var modelBytes: Int { weightsBytes + runtimeBytes - Self.runtimeBaselineBytes }
    public var totalBytes: Int { runtimeBytes + weightsBytes + contexts * sessionBytes }

    /// - Parameters:
    ///   - threads: worker threads (each has its own attention scratch).
    public init(
        file: GGUFFile, model: any LanguageModel, contextLength: Int, contexts: Int, cacheTypes: KVCacheTypes = .f16,
        threads: Int
    ) {
        let shape = model.stateShape
        let embedding = file.tensors.first { $0.name == "token_embd.weight" }
        let separateOutput = file.tensors.contains { $0.name == "output.weight" }
        weightsBytes = file.file.size - (separateOutput ? embedding?.byteCount ?? 0 : 0)
        runtimeBytes = Self.runtimeBaselineBytes + model.vocabularySize * Self.heapBytesPerVocabularyEntry
        kvBytesPerContext = contextLength * shape.kvBytesPerPosition(cacheTypes)
        scratchBytesPerContext = shape.scratchBytes(contextLength: contextLength, maxBatch: Engine.promptBatch, threads: threads)
        self.contexts = contexts
        self.contextLength = contextLength
        self.cacheTypes = cacheTypes
    }
}

extension Engine {
    /// The memory plan of this engine with `contexts` contexts of `contextLength` positions.
    public func memoryPlan(contextLength: Int? = nil, contexts: Int, cacheTypes: KVCacheTypes = .f16) -> MemoryPlan {
        MemoryPlan(
            file: file, model: model, contextLength: contextLength ?? defaultContextLength(), contexts: contexts,
            cacheTypes: cacheTypes, threads: pool.effectiveCount)
    }
}
