import SLMCompute

/// The tokenizer half of a GGUF file's metadata (`tokenizer.ggml.*`), validated, before any lookup
/// tables are built. `Tokenizer(vocabulary:)` turns it into something that encodes and decodes.
public struct TokenizerVocabulary: Sendable, Equatable {
    /// GGUF token types (`tokenizer.ggml.token_type`), as written by llama.cpp's converters.
    public enum TokenType {
        public static let normal: Int32 = 1
        public static let unknown: Int32 = 2
        public static let control: Int32 = 3
        public static let userDefined: Int32 = 4
        public static let unused: Int32 = 5
        public static let byte: Int32 = 6
    }

    /// Tokenizer families this engine implements (`tokenizer.ggml.model`): "gpt2" is byte-level
    /// BPE, "llama" is SentencePiece (scores, `▁` for spaces, `<0xXX>` byte fallback).
    /// "gemma4" is BPE over raw UTF-8 with "▁" for spaces and `<0xXX>` byte fallback. "bert" is
    /// WordPiece (BERT-family encoders).
    public static let supportedModels = ["gpt2", "llama", "gemma4", "bert"]

    /// `tokenizer.ggml.model`, e.g. "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    public var model: String
    /// `tokenizer.ggml.pre`, e.g. "smollm"; "default" when the file has none (as llama.cpp does).
    public var pre: String
    /// Token texts, indexed by id. Byte-level BPE texts use the GPT-2 byte-to-unicode alphabet.
    public var tokens: [String]
    /// One GGUF token type per token (see `TokenType`).
    public var tokenTypes: [Int32]
    /// Merge rules "left right", highest priority first (BPE only).
    public var merges: [String]
    /// One score per token (`tokenizer.ggml.scores`): SentencePiece merges the pair whose
    /// result scores highest. Zeros when the file has none.
    public var scores: [Float]
    /// SentencePiece: a space is put before the text (and taken off the first piece on decode).
    public var addSpacePrefix: Bool
    public var bos: Int32?
    public var eos: Int32?
    /// End of turn (e.g. `<|im_end|>`). Like the other ids here, only what the file says:
    /// `Tokenizer` detects the ones left nil from token texts, as llama.cpp does.
    public var eot: Int32?
    /// End of message (`<|eom_id|>`).
    public var eom: Int32?
    public var unk: Int32?
    public var pad: Int32?
    /// Fill-in-the-middle markers: prefix, suffix, middle, pad, repository, file separator.
    public var fimPre: Int32?
    public var fimSuf: Int32?
    public var fimMid: Int32?
    public var fimPad: Int32?
    public var fimRep: Int32?
    public var fimSep: Int32?
    /// The separator that ends a WordPiece input (`[SEP]`).
    public var sep: Int32?
    /// Whether `encode(addSpecial: true)` puts `bos` first / `eos` last / `sep` last.
    public var addBOS: Bool
    public var addEOS: Bool
    public var addSEP: Bool
    /// WordPiece normalisation (`tokenizer.ggml.normalizer.*`): lower-case, strip accents.
    public var lowercase: Bool
    public var stripAccents: Bool
    /// `general.name`: llama.cpp keys a few per-model special-token rules on it (Phi-3).
    public var modelName: String?

    public var count: Int { tokens.count }

    /// Builds a vocabulary in code (tests, synthetic models). Validates everything `Tokenizer`
    /// relies on, so a vocabulary that exists is one that can be used. `addSpacePrefix` defaults
    /// to what llama.cpp assumes for the model (on for "llama").
    public init(
        model: String = "gpt2", pre: String = "smollm",
        tokens: [String], tokenTypes: [Int32]? = nil, merges: [String] = [],
        scores: [Float]? = nil, addSpacePrefix: Bool? = nil,
        bos: Int32? = nil, eos: Int32? = nil, eot: Int32? = nil, eom: Int32? = nil,
        unk: Int32? = nil, pad: Int32? = nil,
        fimPre: Int32? = nil, fimSuf: Int32? = nil, fimMid: Int32? = nil,
        fimPad: Int32? = nil, fimRep: Int32? = nil, fimSep: Int32? = nil,
        sep: Int32? = nil, addBOS: Bool = false, addEOS: Bool = false, addSEP: Bool = false,
        lowercase: Bool = true, stripAccents: Bool? = nil, modelName: String? = nil
    ) throws(TokenizerError) {
        guard Self.supportedModels.contains(model) else {
            throw .unsupportedModel(model, supported: Self.supportedModels)
        }
        if model == "gpt2" { _ = try PreTokenizerRules(name: pre) }
        if let scores, scores.count < tokens.count {
            throw .invalidValue(
                key: "tokenizer.ggml.scores",
                reason: "\(scores.count) scores for \(tokens.count) tokens")
        }
        let types = tokenTypes ?? Array(repeating: TokenType.normal, count: tokens.count)
        guard types.count >= tokens.count else {
            throw .invalidValue(
                key: "tokenizer.ggml.token_type",
                reason: "\(types.count) types for \(tokens.count) tokens")
        }
        for id in [bos, eos, eot, eom, unk, pad, sep, fimPre, fimSuf, fimMid, fimPad, fimRep, fimSep] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw .tokenOutOfRange(id: Int(id), vocabularySize: tokens.count)
            }
        }
        for (index, line) in merges.enumerated() where BPEMerges.split(line) == nil {
            throw .badMergeLine(index: index, line: line)
        }
        if (addBOS && bos == nil) || (addEOS && eos == nil) || (addSEP && sep == nil) {
            let key =
                addBOS && bos == nil
                ? "tokenizer.ggml.add_bos_token"
                : addEOS && eos == nil ? "tokenizer.ggml.add_eos_token" : "tokenizer.ggml.add_sep_token"
            throw .invalidValue(key: key, reason: "set, but the model has no such token")
        }
        self.model = model
        self.pre = pre
        // llama.cpp renames empty token texts so that every text maps back to one id.
        self.tokens = tokens.enumerated().map { $0.element.isEmpty ? "[EMPTY_\($0.offset)]" : $0.element }
        self.tokenTypes = Array(types.prefix(tokens.count))
        self.merges = merges
        self.scores = scores.map { Array($0.prefix(tokens.count)) } ?? Array(repeating: 0, count: tokens.count)
        self.addSpacePrefix = addSpacePrefix ?? (model == "llama")
        self.bos = bos
        self.eos = eos
        self.eot = eot
        self.eom = eom
        self.unk = unk
        self.pad = pad
        self.fimPre = fimPre
        self.fimSuf = fimSuf
        self.fimMid = fimMid
        self.fimPad = fimPad
        self.fimRep = fimRep
        self.fimSep = fimSep
        self.sep = sep
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSEP = addSEP
        self.lowercase = lowercase
        self.stripAccents = stripAccents ?? lowercase
        self.modelName = modelName
    }

    /// Reads `tokenizer.ggml.*` from a GGUF file.
    public init(gguf: GGUFFile) throws(TokenizerError) {
        guard let model = gguf.string("tokenizer.ggml.model") else {
            throw Self.missingOrInvalid(gguf, "tokenizer.ggml.model", expected: "a string")
        }
        guard Self.supportedModels.contains(model) else {
            throw .unsupportedModel(model, supported: Self.supportedModels)
        }
        let spm = model == "llama"
        let pre: String
        if model == "gemma4" {
            pre = "gemma4"  // llama.cpp's choice, whatever the file says
        } else if gguf.value("tokenizer.ggml.pre") == nil || spm {
            // llama.cpp ignores the name for SentencePiece vocabularies.
            pre = "default"
        } else if let name = gguf.string("tokenizer.ggml.pre") {
            pre = name
        } else {
            throw .invalidValue(key: "tokenizer.ggml.pre", reason: "not a string")
        }
        guard let tokens = gguf.stringArray("tokenizer.ggml.tokens") else {
            throw Self.missingOrInvalid(gguf, "tokenizer.ggml.tokens", expected: "an array of strings")
        }
        var merges: [String] = []
        // Merges: required for the BPE families, read if present for the others.
        if (model == "gpt2" || model == "gemma4") || gguf.value("tokenizer.ggml.merges") != nil {
            guard let m = gguf.stringArray("tokenizer.ggml.merges") else {
                throw Self.missingOrInvalid(gguf, "tokenizer.ggml.merges", expected: "an array of strings")
            }
            merges = m
        }
        var scores: [Float]? = nil
        if gguf.value("tokenizer.ggml.scores") != nil {
            guard let s = gguf.floatArray("tokenizer.ggml.scores") else {
                throw .invalidValue(key: "tokenizer.ggml.scores", reason: "not an array of numbers")
            }
            scores = s
        }
        var types: [Int32]? = nil
        if gguf.value("tokenizer.ggml.token_type") != nil {
            guard let t = gguf.int32Array("tokenizer.ggml.token_type") else {
                throw .invalidValue(key: "tokenizer.ggml.token_type", reason: "not an array of i32")
            }
            types = t
        }

        // Special ids: a byte-level BPE file without them falls back to id 11, as llama.cpp does
        // (a GPT-2-era convention), SentencePiece to <unk> 0, <s> 1, </s> 2. Ids out of range are
        // ignored rather than fatal, also as llama.cpp does: some converters write a pad id one
        // past the end of the vocabulary.
        func special(_ key: String, default fallback: Int32?) throws(TokenizerError) -> Int32? {
            let valid = { (id: Int) -> Bool in id >= 0 && id < tokens.count }
            let base = fallback.flatMap { valid(Int($0)) ? $0 : nil }
            guard let value = gguf.value("tokenizer.ggml.\(key)") else { return base }
            guard let id = value.asInt else {
                throw .invalidValue(key: "tokenizer.ggml.\(key)", reason: "not an integer")
            }
            return valid(id) ? Int32(id) : base
        }
        func flag(_ key: String) throws(TokenizerError) -> Bool? {
            guard let value = gguf.value("tokenizer.ggml.\(key)") else { return nil }
            guard let b = value.asBool else {
                throw .invalidValue(key: "tokenizer.ggml.\(key)", reason: "not a bool")
            }
            return b
        }
        let gemma4 = model == "gemma4"
        // WordPiece: llama.cpp's defaults are BERT's ids ([CLS] 101, [SEP] 102, [UNK] 100,
        // [PAD] 0) and no EOS.
        let wordPiece = model == "bert"
        let bos = try special("bos_token_id", default: gemma4 ? nil : wordPiece ? 101 : spm ? 1 : 11)
        let eos = try special("eos_token_id", default: gemma4 || wordPiece ? nil : spm ? 2 : 11)
        // The older key names (prefix_/suffix_/middle_token_id) win, as llama.cpp reads them last.
        func fim(_ old: String, _ new: String) throws(TokenizerError) -> Int32? {
            if let id = try special(old, default: nil) { return id }
            return try special(new, default: nil)
        }
        let fimPre = try fim("prefix_token_id", "fim_pre_token_id")
        let fimSuf = try fim("suffix_token_id", "fim_suf_token_id")
        let fimMid = try fim("middle_token_id", "fim_mid_token_id")
        // Without the key, BOS is added for SentencePiece and for the pre-tokenizers llama.cpp
        // says so for (Llama 3).
        let bosByDefault = spm || ((try? PreTokenizerRules(name: pre))?.addBOSByDefault ?? false)
        // Gemma 4 always gets BOS (llama.cpp overrides the file).
        let fileAddBOS = try flag("add_bos_token")
        let addBOS = gemma4 || (fileAddBOS ?? bosByDefault)
        let addEOS = try flag("add_eos_token") ?? false
        // llama.cpp puts [CLS] and [SEP] around every WordPiece input, whatever the add_* flags say
        // (no EOS either: [SEP] is often also the file's EOS).
        let sep = try special("seperator_token_id", default: wordPiece ? 102 : nil)
        // Accents are stripped when lower-casing unless the file says otherwise, as in llama.cpp.
        let lowercase = try flag("normalizer.lowercase") ?? true
        let stripAccents = try flag("normalizer.strip_accents") ?? lowercase
        try self.init(
            model: model, pre: pre, tokens: tokens, tokenTypes: types, merges: merges,
            scores: scores, addSpacePrefix: try flag("add_space_prefix"),
            bos: bos, eos: eos,
            eot: try special("eot_token_id", default: nil),
            eom: try special("eom_token_id", default: nil),
            unk: try special("unknown_token_id", default: spm ? 0 : wordPiece ? 100 : nil),
            pad: try special("padding_token_id", default: wordPiece ? 0 : nil),
            fimPre: fimPre, fimSuf: fimSuf, fimMid: fimMid,
            fimPad: try special("fim_pad_token_id", default: nil),
            fimRep: try special("fim_rep_token_id", default: nil),
            fimSep: try special("fim_sep_token_id", default: nil),
            // Asking for a BOS/EOS the file lacks is a converter bug; llama.cpp would assert.
            sep: sep,
            addBOS: wordPiece ? bos != nil : addBOS && bos != nil, addEOS: !wordPiece && addEOS && eos != nil,
            addSEP: wordPiece && sep != nil,
            lowercase: lowercase, stripAccents: stripAccents,
            modelName: gguf.string("general.name"))
    }

    private static func missingOrInvalid(_ gguf: GGUFFile, _ key: String, expected: String) -> TokenizerError {
        if let value = gguf.value(key) {
            return .invalidValue(key: key, reason: "expected \(expected), found \(value.typeName)")
        }
        return .missingKey(key)
    }
}
