import SLMCompute

/// Text ⇄ token ids for a byte-level BPE, a SentencePiece or a WordPiece vocabulary, matching
/// llama.cpp token for token.
///
/// Encoding runs the pipeline of this folder: special tokens are cut out (`SpecialTokens`); for
/// BPE the rest is split into pre-tokens (`PreTokenizer`) and each pre-token's bytes are merged
/// (`BPE`), for SentencePiece each piece of text is merged by scores (`SentencePiece`), for
/// WordPiece it is normalised, split into words and cut into pieces (`WordPiece`). Decoding
/// maps each id back to its bytes (`ByteLevel` or "▁" → " "). Immutable after `init`, so one
/// instance serves any number of threads.
public final class Tokenizer: Sendable {
    public let vocabulary: TokenizerVocabulary

    private enum Algorithm: Sendable {
        case bpe(PreTokenizer, BPEMerges)
        case sentencePiece(SentencePiece)
        case wordPiece(WordPiece)
    }
    private let algorithm: Algorithm
    /// Token text (UTF-8 bytes; byte-level alphabet for those vocabularies) -> id.
    private let tokenIDs: [[UInt8]: Int32]
    private let ignoreMerges: Bool
    private let cleanSpaces: Bool
    /// Gemma 4: spaces become "▁" before splitting, and a run of newlines that is a token stays whole.
    private let escapeSpaces: Bool
    private let specials: SpecialTokenMatcher
    private let attributes: [TokenAttributes]
    /// Bytes of each token as rendered with special tokens shown (llama.cpp's piece cache).
    private let pieces: [[UInt8]]
    private let endOfGeneration: Set<Int32>

    /// Special ids after llama.cpp's detection from token texts (e.g. `eot` = `<|im_end|>`).
    public let eot: Int32?
    public let eom: Int32?
    public let fimPre: Int32?, fimSuf: Int32?, fimMid: Int32?
    public let fimPad: Int32?, fimRep: Int32?, fimSep: Int32?

    public var vocabularySize: Int { vocabulary.count }
    /// The longest token text in UTF-8 bytes. A token never stands for more input bytes than its
    /// stored text has ("▁" and byte-level characters take more bytes stored than they decode
    /// to; `<0x41>` six for one), so a text of n bytes has at least n / this many tokens.
    public let longestTokenBytes: Int

    /// The fewest tokens a text of `byteCount` bytes can encode to: a bound known without
    /// tokenizing, so a text that cannot fit a context is refused at once.
    public func fewestTokens(forBytes byteCount: Int) -> Int { (byteCount + longestTokenBytes - 1) / longestTokenBytes }
    public var bos: Int32? { vocabulary.bos }
    public var eos: Int32? { vocabulary.eos }

    public convenience init(gguf: GGUFFile) throws(TokenizerError) {
        try self.init(vocabulary: TokenizerVocabulary(gguf: gguf))
    }

    public init(vocabulary v: TokenizerVocabulary) throws(TokenizerError) {
        vocabulary = v
        guard v.tokenTypes.count >= v.tokens.count else {
            throw .invalidValue(
                key: "tokenizer.ggml.token_type",
                reason: "\(v.tokenTypes.count) types for \(v.tokens.count) tokens")
        }
        guard v.scores.count >= v.tokens.count else {
            throw .invalidValue(
                key: "tokenizer.ggml.scores",
                reason: "\(v.scores.count) scores for \(v.tokens.count) tokens")
        }

        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(v.count)
        var longest = 1
        for (i, text) in v.tokens.enumerated() {
            ids[Array(text.utf8)] = Int32(i)
            longest = max(longest, text.utf8.count)
        }
        tokenIDs = ids
        longestTokenBytes = longest
        switch v.model {
        case "gpt2":
            let rules = try PreTokenizerRules(name: v.pre)
            algorithm = .bpe(PreTokenizer(rules: rules), try BPEMerges(vocabulary: v, tokenIDs: ids))
            ignoreMerges = rules.ignoreMerges
            cleanSpaces = rules.cleanSpaces
            escapeSpaces = false
        case "gemma4":
            let rules = try PreTokenizerRules(name: "gemma4")
            algorithm = .bpe(
                PreTokenizer(rules: rules),
                try BPEMerges(vocabulary: v, tokenIDs: ids, byteLevel: false))
            ignoreMerges = false
            cleanSpaces = rules.cleanSpaces
            escapeSpaces = true
        case "llama":
            algorithm = .sentencePiece(SentencePiece(vocabulary: v, tokenIDs: ids))
            ignoreMerges = false
            cleanSpaces = false
            escapeSpaces = false
        case "bert":
            algorithm = .wordPiece(WordPiece(vocabulary: v, tokenIDs: ids, longestToken: longest))
            ignoreMerges = false
            cleanSpaces = true
            escapeSpaces = false
        default:
            throw .unsupportedModel(v.model, supported: TokenizerVocabulary.supportedModels)
        }
        let spm = v.model != "gpt2"  // texts with "▁" for spaces

        var attrs = v.tokenTypes.prefix(v.count).map(TokenAttributes.init(tokenType:))
        let derived = Self.deriveSpecials(v, &attrs)
        Self.applyStripRules(v, &attrs)
        attributes = attrs
        (eot, eom) = (derived.eot, derived.eom)
        (fimPre, fimSuf, fimMid) = (derived.fim[0], derived.fim[1], derived.fim[2])
        (fimPad, fimRep, fimSep) = (derived.fim[3], derived.fim[4], derived.fim[5])
        endOfGeneration = derived.endOfGeneration
        specials = SpecialTokenMatcher(tokens: v.tokens, attributes: attrs)
        pieces = (0..<v.count).map { Self.render(v.tokens[$0], attrs[$0], sentencePiece: spm) }
    }

    // MARK: - Encoding

    /// Token ids of `text`. `addSpecial` adds BOS/EOS as the vocabulary asks (`addBOS`, `addEOS`);
    /// `parseSpecial` lets control-token texts such as "<|im_start|>" in `text` become those
    /// tokens (otherwise they are encoded as the plain characters they are).
    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecial, vocabulary.addBOS, let bos = vocabulary.bos { out.append(bos) }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { buf in
            let fragments: [TextFragment] =
                specials.isEmpty
                ? (buf.isEmpty ? [] : [.text(0..<buf.count)])
                : specials.partition(buf, parseSpecial: parseSpecial)
            switch algorithm {
            case .bpe(let preTokenizer, let bpe):
                var words: [Range<Int>] = []
                var scalars = PreTokenizer.Scalars()
                var scratch = BPEMerges.Scratch()
                for fragment in fragments {
                    switch fragment {
                    case .token(let id):
                        out.append(id)
                    case .text(let range) where escapeSpaces:
                        var escaped: [UInt8] = []
                        escaped.reserveCapacity(range.count + 16)
                        for b in buf[range] {
                            if b == 0x20 { escaped.append(contentsOf: SentencePiece.spaceMark) } else { escaped.append(b) }
                        }
                        escaped.withUnsafeBufferPointer { e in
                            words.removeAll(keepingCapacity: true)
                            preTokenizer.split(e, 0..<e.count, into: &words, scratch: &scalars)
                            for word in words {
                                let bytes = UnsafeBufferPointer(rebasing: e[word])
                                // A run of newlines that is a token is not merged piecewise.
                                if bytes.allSatisfy({ $0 == 0x0A }),
                                    let id = tokenIDs[Array(bytes)]
                                {
                                    out.append(id)
                                    continue
                                }
                                bpe.encode(bytes, into: &out, scratch: &scratch)
                            }
                        }
                    case .text(let range):
                        words.removeAll(keepingCapacity: true)
                        preTokenizer.split(buf, range, into: &words, scratch: &scalars)
                        for word in words {
                            let bytes = UnsafeBufferPointer(rebasing: buf[word])
                            // Llama 3: a pre-token that is a token skips the merges.
                            if ignoreMerges, let id = tokenIDs[Array(ByteLevel.encode(bytes).utf8)] {
                                out.append(id)
                                continue
                            }
                            bpe.encode(bytes, into: &out, scratch: &scratch)
                        }
                    }
                }
            case .wordPiece(let wordPiece):
                for fragment in fragments {
                    switch fragment {
                    case .token(let id): out.append(id)
                    case .text(let range): wordPiece.encode(UnsafeBufferPointer(rebasing: buf[range]), into: &out)
                    }
                }
            case .sentencePiece(let spm):
                // A space goes before the text at the start and after each special token.
                var afterSpecial = true
                var scratch = SentencePiece.Scratch()
                for fragment in fragments {
                    switch fragment {
                    case .token(let id):
                        out.append(id)
                        afterSpecial = true
                    case .text(let range):
                        spm.encode(
                            UnsafeBufferPointer(rebasing: buf[range]),
                            prefixSpace: vocabulary.addSpacePrefix && afterSpecial,
                            into: &out, scratch: &scratch)
                        afterSpecial = false
                    }
                }
            }
        }
        if addSpecial, vocabulary.addEOS, let eos = vocabulary.eos { out.append(eos) }
        if addSpecial, vocabulary.addSEP, let sep = vocabulary.sep { out.append(sep) }
        return out
    }

    // MARK: - Decoding

    /// Raw bytes of one token (not necessarily valid UTF-8 on its own: a multi-byte character can
    /// span tokens). Control and unknown tokens give no bytes unless `special` is true; this is
    /// `llama_token_to_piece`. Ids out of range give no bytes (see `validate`).
    public func piece(_ id: Int32, special: Bool = false) -> [UInt8] {
        guard id >= 0, Int(id) < pieces.count else { return [] }
        if !special && !attributes[Int(id)].isDisjoint(with: [.control, .unknown]) { return [] }
        return pieces[Int(id)]
    }

    /// The text of `ids`. With `special` (the default, as in llama.cpp's `common_detokenize`)
    /// control tokens appear as their text, so `decode(encode(s, …, parseSpecial: true)) == s`;
    /// pass false to drop them, e.g. for text shown to a user. Invalid UTF-8 (a sequence cut
    /// at either end of `ids`) becomes U+FFFD. Ids out of range are skipped. With
    /// `addSpacePrefix` (SentencePiece), the first token loses one leading space, as in llama.cpp.
    public func decode(_ ids: [Int32], special: Bool = true) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for (i, id) in ids.enumerated() {
            let p = piece(id, special: special)
            if i == 0 && vocabulary.addSpacePrefix && p.first == 0x20 {
                bytes.append(contentsOf: p.dropFirst())
            } else {
                bytes.append(contentsOf: p)
            }
        }
        if cleanSpaces { Self.cleanSpaces(&bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether generation should stop at `id`: EOS, EOT, EOM, and the tokens llama.cpp marks as
    /// end-of-generation by their text (`<|im_end|>`, `<|endoftext|>`, ...).
    public func isEndOfGeneration(_ id: Int32) -> Bool {
        endOfGeneration.contains(id)
    }

    /// Whether `id` is a control (or unknown) token, i.e. one `piece` renders as nothing.
    public func isControl(_ id: Int32) -> Bool {
        guard id >= 0, Int(id) < attributes.count else { return false }
        return !attributes[Int(id)].isDisjoint(with: [.control, .unknown])
    }

    /// The stored text of a token (byte-level alphabet for normal tokens), nil when out of range.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0, Int(id) < vocabulary.count else { return nil }
        return vocabulary.tokens[Int(id)]
    }

    /// Throws for the first id that is not in the vocabulary.
    public func validate(_ ids: [Int32]) throws(TokenizerError) {
        for id in ids where id < 0 || Int(id) >= vocabularySize {
            throw .tokenOutOfRange(id: Int(id), vocabularySize: vocabularySize)
        }
    }

    // MARK: - Derived special tokens

    private static let eotTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]
    private static let fimTexts: [[String]] = [
        [
            "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
            "<|code_prefix|>", "<|prefix|>",
        ],
        [
            "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
            "<|code_suffix|>", "<|suffix|>",
        ],
        [
            "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
            "<|code_middle|>", "<|middle|>",
        ],
        ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
        ["<|file_sep|>"],
    ]
    private static let eogTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]

    /// llama.cpp's load-time heuristics, in its order: ids the file left out are found by token
    /// text, and tokens found that way (and every end-of-generation text) become control tokens,
    /// which changes how they are matched in text and rendered.
    private static func deriveSpecials(_ v: TokenizerVocabulary, _ attrs: inout [TokenAttributes])
        -> (eot: Int32?, eom: Int32?, fim: [Int32?], endOfGeneration: Set<Int32>)
    {
        // llama.cpp takes whichever candidate its hash map yields first; here the first text of
        // the list that the vocabulary has (so `<|im_end|>` is preferred over `<|endoftext|>`).
        let candidates = Set(eotTexts + ["<|eom_id|>"] + fimTexts.joined())
        var firstID: [String: Int] = [:]
        for (i, text) in v.tokens.enumerated() where candidates.contains(text) && firstID[text] == nil {
            firstID[text] = i
        }
        func detect(_ given: Int32?, _ texts: [String]) -> Int32? {
            if let given { return given }
            guard let i = texts.lazy.compactMap({ firstID[$0] }).first else { return nil }
            attrs[i].insert(.control)
            return Int32(i)
        }
        let eot = detect(v.eot, eotTexts)
        let eom = detect(v.eom, ["<|eom_id|>"])
        let given = [v.fimPre, v.fimSuf, v.fimMid, v.fimPad, v.fimRep, v.fimSep]
        let fim = (0..<6).map { detect(given[$0], fimTexts[$0]) }

        for (i, text) in v.tokens.enumerated()
        where attrs[i].contains(.control) && text.utf8.count >= 6 && text.contains("unused") {
            attrs[i].insert(.unused)
        }

        var eog = Set([fim[3], fim[4], fim[5]].compactMap { $0 })
        for (i, text) in v.tokens.enumerated() where eogTexts.contains(text) {
            eog.insert(Int32(i))
            attrs[i].insert(.control)
        }
        // gpt-oss: these must always be rendered.
        for (i, text) in v.tokens.enumerated()
        where text == "<|channel|>" || text == "<|message|>" || text == "<|start|>" || text == "<|constrain|>" {
            attrs[i] = .userDefined
        }
        for id in [v.eos, eot, eom].compactMap({ $0 }) { eog.insert(id) }

        func text(_ id: Int32) -> String { v.tokens[Int(id)] }
        // Harmony / solar-open: "<|end|>" ends a message, not the generation.
        let eogTextsPresent = Set(eog.map(text))
        if (eogTextsPresent.contains("<|return|>") && eogTextsPresent.contains("<|call|>"))
            || (eogTextsPresent.contains("<|calls|>") && eogTextsPresent.contains("<|flush|>")),
            let end = eog.first(where: { text($0) == "<|end|>" })
        {
            eog.remove(end)
            attrs[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo: "</s>" is an ordinary token there.
        if eogTextsPresent.contains("<|tool_response>") || eogTextsPresent.contains("<|plamo:eos|>"),
            let s = eog.first(where: { text($0) == "</s>" })
        {
            eog.remove(s)
            attrs[Int(s)] = .normal
        }
        return (eot, eom, fim, eog)
    }

    /// llama.cpp's per-model strip rules: for Phi-3 (by `general.name`), whitespace after a
    /// special token matched in text is dropped, except after <unk>, <s> and <|endoftext|>.
    private static func applyStripRules(_ v: TokenizerVocabulary, _ attrs: inout [TokenAttributes]) {
        guard let name = v.modelName?.lowercased(), name.contains("phi-3") || name.contains("phi3") else { return }
        for i in attrs.indices where !attrs[i].isDisjoint(with: [.control, .userDefined, .unknown]) {
            attrs[i].insert(.rstrip)
        }
        for (i, text) in v.tokens.enumerated() {
            if text == "</s>" { attrs[i].insert(.rstrip) }
            if text == "<unk>" || text == "<s>" || text == "<|endoftext|>" { attrs[i].remove(.rstrip) }
        }
    }

    /// A token's bytes with special tokens shown: control, unknown and user-defined tokens as
    /// their literal text, normal tokens through the byte-level alphabet (SentencePiece: "▁" as a
    /// space), byte tokens ("<0x0A>") as their byte, anything else (unused, undefined) as nothing.
    private static func render(_ text: String, _ attr: TokenAttributes, sentencePiece: Bool) -> [UInt8] {
        if !attr.isDisjoint(with: [.control, .unknown, .userDefined]) { return Array(text.utf8) }
        if attr.contains(.normal) { return sentencePiece ? SentencePiece.unescape(text) : ByteLevel.decode(text) }
        if attr.contains(.byte) {
            let u = Array(text.utf8)
            if u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E,  // <0x..>
                let byte = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
            {
                return [byte]
            }
        }
        return []
    }

    /// llama.cpp's `clean_spaces` (a port of Hugging Face's `clean_up_tokenization_spaces`):
    /// drop the space before `? ! . ,`, around a lone `'`, and before `'s 'm 're 've`.
    static func cleanSpaces(_ t: inout [UInt8]) {
        let space: UInt8 = 0x20
        let quote: UInt8 = 0x27
        guard t.count > 1 else { return }
        // Each pass compacts in place: `n` is the output length, reads stay ahead of writes.
        var n = 1
        for i in 1..<t.count {
            let x = t[i]
            if t[i - 1] == space && (x == 0x3F || x == 0x21 || x == 0x2E || x == 0x2C) { n -= 1 }
            t[n] = x
            n += 1
        }
        t.removeSubrange(n...)
        guard t.count > 1 else { return }

        var src = t
        n = 1
        var i = 1
        while i < src.count {
            let x = src[i]
            if x == quote && i + 1 < src.count && src[i - 1] == space && src[i + 1] == space {
                n -= 1
                src[i + 1] = 0  // the space after is dropped, and no longer counts as a space
                i += 1
            }
            t[n] = x
            n += 1
            i += 1
        }
        t.removeSubrange(n...)
        guard t.count > 1 else { return }

        src = t
        n = 1
        for i in 1..<src.count {
            let x = src[i]
            if src[i - 1] == space && x == quote && i + 1 < src.count {
                let x1 = src[i + 1]
                if x1 == 0x73 || x1 == 0x6D {  // 's 'm
                    n -= 1
                } else if i + 2 < src.count {
                    let x2 = src[i + 2]
                    if (x1 == 0x72 || x1 == 0x76) && x2 == 0x65 { n -= 1 }  // 're 've
                }
            }
            t[n] = x
            n += 1
        }
        t.removeSubrange(n...)
    }
}
