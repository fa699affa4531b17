"""The HTTP API of slmd (docs/http.md) with the real clients from PyPI: openai, ollama, httpx and
prometheus_client (pinned in scripts/http-clients.sh), against slmd on a temporary socket.

Run by scripts/test.sh:  PYTHONPATH=$(scripts/http-clients.sh) python3 Tests/http/test_http_api.py
Needs SLM_TEST_MODEL, SLM_TEST_MODEL_QWEN25CODER and SLM_TEST_MODEL_MINILM (the test command
exports them) and the release build (.build/release/slmd, .build/release/slm). Prints "HTTP API tests: N passed, M failed".
"""

import base64
import importlib.util
import json
import math
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import httpx
import jsonschema
import ollama
import openai
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLMD = os.path.join(ROOT, ".build/release/slmd")
SLM = os.path.join(ROOT, ".build/release/slm")
SMOLLM2 = os.environ.get("SLM_TEST_MODEL", "")
CODER = os.environ.get("SLM_TEST_MODEL_QWEN25CODER", "")
MINILM = os.environ.get("SLM_TEST_MODEL_MINILM", "")
PROMPT = "Name three colours of the rainbow."


class Daemon:
    """slmd on a temporary socket; stopped with SIGTERM. `models`: (name, file) pairs, the first
    the default; smollm2 and coder unless given."""

    def __init__(self, *extra, models=None):
        self.dir = tempfile.mkdtemp(prefix="slm-http-")
        self.socket = os.path.join(self.dir, "slmd.sock")
        models = models or [("smollm2", SMOLLM2), ("coder", CODER)]
        args = [SLMD, *[a for name, path in models for a in ("-m", f"{name}={path}")], "--socket", self.socket,
                "--db", os.path.join(self.dir, "c.db"), "--log-level", "warning", *extra]
        self.log = open(os.path.join(self.dir, "slmd.log"), "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while not os.path.exists(self.socket):
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("slmd did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        self.http = httpx.Client(transport=httpx.HTTPTransport(uds=self.socket), base_url="http://slmd", timeout=120)
        # As docs/http.md shows: the base URL's host is not used, the transport's socket is.
        self.openai_client = openai.OpenAI(
            base_url="http://slmd/v1", api_key="unused",
            http_client=httpx.Client(transport=httpx.HTTPTransport(uds=self.socket), timeout=120))
        self.ollama_client = ollama.Client(host="http://slmd", transport=httpx.HTTPTransport(uds=self.socket), timeout=120)

    def openai(self):
        return self.openai_client

    def ollama(self):
        return self.ollama_client

    def ndjson(self, request):
        """One NDJSON request on its own connection; the replies up to the last one."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.socket)
            s.sendall((json.dumps(request) + "\n").encode())
            events, buffer = [], b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return events
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    events.append(event)
                    if event["event"] not in ("token", "running"):
                        return events

    def raw(self, data, read_timeout=5.0):
        """Sends bytes on a new connection and returns everything read until it closes."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.socket)
            s.settimeout(read_timeout)
            if data:
                s.sendall(data)
            out = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except socket.timeout:
                pass
            return out

    def rss_kb(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def fds(self):
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def metrics(self):
        text = self.http.get("/metrics").text
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def stop(self):
        self.http.close()
        self.openai_client.close()
        self.ollama_client._client.close()
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def slm_run(model, prompt, n):
    """`slm run --chat` greedy: the reference text for a model."""
    out = subprocess.run([SLM, "run", "-m", model, "-p", prompt, "--chat", "--temp", "0", "-n", str(n), "--no-stats"],
                         capture_output=True, text=True, check=True)
    return out.stdout


def counter(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class HTTPAPITests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def chat(self, model="smollm2", max_tokens=40, **extra):
        return self.d.openai().chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens, temperature=0, **extra)

    def test_models_list(self):
        ids = [m.id for m in self.d.openai().models.list().data]
        self.assertEqual(ids, ["smollm2", "coder"])
        tags = [m.model for m in self.d.ollama().list().models]
        self.assertEqual(tags, ["smollm2", "coder"])

    def test_streamed_deltas_equal_the_reply(self):
        whole = self.chat()
        text = whole.choices[0].message.content
        self.assertTrue(text)
        stream = self.chat(stream=True, stream_options={"include_usage": True})
        deltas, finish, usage = [], None, None
        for chunk in stream:
            if chunk.choices:
                deltas.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage:
                usage = chunk.usage
        self.assertEqual("".join(deltas), text)
        self.assertEqual(finish, whole.choices[0].finish_reason)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)
        self.assertEqual(usage.prompt_tokens, whole.usage.prompt_tokens)

    def test_usage_equals_the_daemons_token_counts(self):
        before = self.d.metrics()
        reply = self.chat(max_tokens=25)
        after = self.d.metrics()
        self.assertEqual(reply.usage.completion_tokens,
                         after[("slm_generated_tokens_total", ())] - before[("slm_generated_tokens_total", ())])
        self.assertEqual(reply.usage.prompt_tokens,
                         after[("slm_prompt_tokens_total", ())] - before[("slm_prompt_tokens_total", ())])
        self.assertEqual(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens)
        self.assertEqual(reply.choices[0].finish_reason, "length")
        self.assertEqual(reply.usage.completion_tokens, 25)

    def test_legacy_completion_equals_ndjson_generate(self):
        prompt = "The capital of France is"
        reply = self.d.openai().completions.create(model="smollm2", prompt=prompt, max_tokens=20, temperature=0)
        events = self.d.ndjson({"id": 1, "op": "generate", "prompt": prompt, "max_tokens": 20, "temperature": 0})
        done = events[-1]
        self.assertEqual(done["event"], "done")
        self.assertEqual(reply.choices[0].text, "".join(e["text"] for e in events if e["event"] == "token"))
        self.assertEqual(reply.usage.prompt_tokens, done["prompt_tokens"])
        self.assertEqual(reply.usage.completion_tokens, done["generated_tokens"])

    def test_ollama_chat_equals_openai(self):
        for model in ("smollm2", "coder"):
            openai_reply = self.chat(model=model, max_tokens=30)
            reply = self.d.ollama().chat(model=model, messages=[{"role": "user", "content": PROMPT}],
                                         options={"temperature": 0, "num_predict": 30}, stream=False)
            self.assertEqual(reply.message.content, openai_reply.choices[0].message.content, model)
            self.assertTrue(reply.done)
            self.assertEqual(reply.eval_count, openai_reply.usage.completion_tokens)
            self.assertEqual(reply.prompt_eval_count, openai_reply.usage.prompt_tokens)
            self.assertGreater(reply.total_duration, reply.eval_duration)

    def test_ollama_generate_streams_and_ends_with_done(self):
        parts = list(self.d.ollama().generate(model="smollm2", prompt=PROMPT, stream=True,
                                              options={"temperature": 0, "num_predict": 12}))
        self.assertGreater(len(parts), 2)
        self.assertTrue(all(not p.done for p in parts[:-1]))
        last = parts[-1]
        self.assertTrue(last.done)
        self.assertEqual(last.done_reason, "length")
        self.assertEqual(last.eval_count, 12)
        for field in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_duration"):
            self.assertIsNotNone(getattr(last, field), field)
        text = "".join(p.response for p in parts)
        whole = self.d.ollama().generate(model="smollm2", prompt=PROMPT, stream=False,
                                         options={"temperature": 0, "num_predict": 12})
        self.assertEqual(whole.response, text)

    def test_unknown_model_is_404(self):
        with self.assertRaises(openai.NotFoundError) as caught:
            self.chat(model="no-such-model")
        self.assertIn("no-such-model", str(caught.exception))
        with self.assertRaises(ollama.ResponseError) as caught:
            self.d.ollama().chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        self.assertEqual(caught.exception.status_code, 404)

    def test_malformed_json_is_400_with_an_error_object(self):
        for path in ("/v1/chat/completions", "/v1/completions"):
            r = self.d.http.post(path, content=b'{"messages": [', headers={"Content-Type": "application/json"})
            self.assertEqual(r.status_code, 400, path)
            self.assertIn("malformed JSON", r.json()["error"]["message"])
            self.assertEqual(r.json()["error"]["type"], "invalid_request_error")
        r = self.d.http.post("/api/chat", content=b"[1,2")
        self.assertEqual(r.status_code, 400)
        self.assertIn("malformed JSON", r.json()["error"])

    def test_what_is_not_supported_is_a_clear_400(self):
        client = self.d.openai()
        cases = [
            dict(n=2),
            dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
            dict(logprobs=True),
        ]
        for extra in cases:
            with self.assertRaises(openai.BadRequestError, msg=str(extra)):
                self.chat(max_tokens=4, **extra)
        with self.assertRaises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="smollm2", max_tokens=4, messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}])
        self.assertIn("text only", str(caught.exception))
        with self.assertRaises(openai.BadRequestError):
            client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "hi"}],
                                           extra_body={"bogus_field": 1})

    def test_malformed_request_line_is_400(self):
        reply = self.d.raw(b"GET /v1/models HTTP/1.1 extra\r\nHost: x\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply[:80])

    def test_ndjson_keeps_working_on_the_same_socket(self):
        info = self.d.ndjson({"id": "i", "op": "info"})[-1]
        self.assertEqual(info["event"], "info")
        self.assertEqual([m["id"] for m in info["models"]], ["smollm2", "coder"])
        events = self.d.ndjson({"id": 2, "op": "generate", "prompt": "Hi", "max_tokens": 3, "temperature": 0,
                                "model": "coder"})
        self.assertEqual(events[-1]["event"], "done")
        self.assertEqual(events[-1]["generated_tokens"], 3)
        models = self.d.ndjson({"id": 3, "op": "models"})[-1]
        self.assertEqual(models["event"], "models")

    def test_slm_ask_names_a_served_model(self):
        out = subprocess.run([SLM, "ask", "--socket", self.d.socket, "-m", "coder", "-n", "6", "--temp", "0", "--no-stats",
                              PROMPT], capture_output=True, text=True, check=True).stdout
        events = self.d.ndjson({"id": 1, "op": "generate", "prompt": PROMPT, "max_tokens": 6, "temperature": 0,
                                "model": "coder"})
        self.assertEqual(out.rstrip("\n"), "".join(e["text"] for e in events if e["event"] == "token"))
        missing = subprocess.run([SLM, "ask", "--socket", self.d.socket, "-m", "nope", "Hi"], capture_output=True, text=True)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("no model", missing.stderr)

    def test_a_stored_conversation_continues_over_openai(self):
        client = self.d.openai()
        first = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi, I am Ada."}],
                                               max_tokens=5, temperature=0, extra_body={"conversation": 0})
        conversation = first.model_extra["conversation"]
        self.assertGreater(conversation, 0)
        second = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Who am I?"}],
                                                max_tokens=5, temperature=0, extra_body={"conversation": conversation})
        self.assertEqual(second.model_extra["conversation"], conversation)
        self.assertGreater(second.usage.prompt_tokens, first.usage.prompt_tokens)
        stored = self.d.ndjson({"id": 1, "op": "conversations.get", "conversation": conversation})[-1]
        self.assertEqual([m["role"] for m in stored["messages"]], ["user", "assistant", "user", "assistant"])
        self.assertEqual(stored["messages"][3]["content"], second.choices[0].message.content)
        with self.assertRaises(openai.BadRequestError):
            client.chat.completions.create(model="smollm2", max_tokens=2, extra_body={"conversation": conversation},
                                           messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])

    def test_each_model_answers_with_its_own_tokens(self):
        for name, path in (("smollm2", SMOLLM2), ("coder", CODER)):
            reply = self.chat(model=name, max_tokens=30).choices[0].message.content
            self.assertEqual(reply, slm_run(path, PROMPT, 30), name)

    def test_metrics_parse_and_count_the_requests(self):
        before = self.d.metrics()
        for _ in range(5):
            self.assertEqual(self.d.http.get("/v1/models").status_code, 200)
        self.assertEqual(self.d.http.get("/nope").status_code, 404)
        after = self.d.metrics()
        key = dict(protocol="http", endpoint="/v1/models", status="200")
        self.assertEqual(counter(after, "slm_requests_total", **key) - counter(before, "slm_requests_total", **key), 5)
        key = dict(protocol="http", endpoint="other", status="404")
        self.assertEqual(counter(after, "slm_requests_total", **key) - counter(before, "slm_requests_total", **key), 1)
        for name in ("slm_queue_depth", "slm_active_generations", "slm_models_loaded", "slm_resident_memory_bytes"):
            self.assertIn((name, ()), after)
        self.assertIn(("slm_time_to_first_token_seconds_count", ()), after)
        self.assertEqual(after[("slm_model_loaded", (("model", "smollm2"),))], 1)

    def test_ollama_show_and_ps(self):
        show = self.d.ollama().show("smollm2")
        self.assertEqual(show.details.family, "llama")
        self.assertIn("im_start", show.template)
        running = [m.model for m in self.d.ollama().ps().models]
        self.assertIn("smollm2", running)
        with self.assertRaises(ollama.ResponseError):
            self.d.ollama().show("missing")

    def test_endpoints_not_served_say_why(self):
        with self.assertRaises(ollama.ResponseError) as caught:
            self.d.ollama().pull("llama3")
        self.assertEqual(caught.exception.status_code, 501)
        self.assertIn("does not manage models", str(caught.exception))
        r = self.d.http.post("/api/delete", json={"model": "smollm2"})
        self.assertEqual(r.status_code, 501)
        self.assertEqual(self.d.http.get("/v1/models/").status_code, 404)

    def test_health(self):
        r = self.d.http.get("/health")
        self.assertEqual((r.status_code, r.json()), (200, {"status": "ok"}))


# Eight schemas written for these tests: nested objects, enums, bounded arrays, patterns, formats,
# $ref, anyOf and const. Strings are bounded so that a sampled document ends within the limit.
SCHEMAS = {
    "nested": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "address": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 20},
            "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["city", "zip"], "additionalProperties": False}},
        "required": ["name", "age", "address"], "additionalProperties": False},
    "enums": {"type": "object", "properties": {
        "color": {"enum": ["red", "green", "blue"]},
        "size": {"type": "string", "enum": ["S", "M", "L", "XL"]},
        "count": {"enum": [1, 2, 3, None]}},
        "required": ["color", "size", "count"]},
    "bounded-array": {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 99},
                      "minItems": 2, "maxItems": 5},
    "patterns": {"type": "object", "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
        "phone": {"type": "string", "pattern": "^\\+?[0-9]{7,12}$"},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,8}$"}, "maxItems": 3}},
        "required": ["code", "phone", "tags"], "additionalProperties": False},
    "refs": {"$defs": {"point": {"type": "object", "properties": {
        "x": {"type": "integer", "minimum": -1000, "maximum": 1000},
        "y": {"type": "integer", "minimum": -1000, "maximum": 1000}},
        "required": ["x", "y"], "additionalProperties": False}},
        "type": "object", "properties": {"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}},
        "required": ["start", "end"], "additionalProperties": False},
    "any-of": {"type": "object", "properties": {
        "value": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 1000}, {"type": "string", "maxLength": 10},
                            {"type": "null"}, {"type": "boolean"}]}},
        "required": ["value"], "additionalProperties": False},
    "formats": {"type": "object", "properties": {
        "date": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
        "done": {"type": "boolean"}},
        "required": ["date", "id", "done"], "additionalProperties": False},
    "const-and-tuple": {"type": "object", "properties": {
        "kind": {"const": "reading"},
        "pair": {"type": "array", "prefixItems": [{"type": "string", "maxLength": 6}, {"type": "integer", "minimum": 0, "maximum": 9}]},
        "unit": {"type": "string", "minLength": 1, "maxLength": 4}},
        "required": ["kind", "pair", "unit"], "additionalProperties": False},
}


class StructuredOutputTests(unittest.TestCase):
    """json_schema and grammar over NDJSON, response_format over OpenAI, format over Ollama."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_sampled_documents_are_valid_under_each_schema(self):
        checker = jsonschema.FormatChecker()
        for name, schema in SCHEMAS.items():
            jsonschema.Draft202012Validator.check_schema(schema)
            validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
            for seed in range(1, 9):
                events = self.d.ndjson({"id": 1, "op": "generate", "prompt": "A JSON document:\n", "json_schema": schema,
                                        "temperature": 1.0, "seed": seed, "max_tokens": 300})
                self.assertEqual(events[-1]["event"], "done", f"{name} seed {seed}: {events[-1]}")
                self.assertEqual(events[-1]["stop_reason"], "eos", f"{name} seed {seed}: cut at the token limit")
                text = "".join(e.get("text", "") for e in events)
                try:
                    document = json.loads(text)
                except ValueError as e:
                    self.fail(f"{name} seed {seed}: not JSON ({e}): {text!r}")
                errors = [e.message for e in validator.iter_errors(document)]
                self.assertEqual(errors, [], f"{name} seed {seed}: {text!r}")

    def test_grammar_field_constrains_and_bad_grammars_name_the_error(self):
        events = self.d.ndjson({"id": 1, "op": "generate", "prompt": "Is the sky blue?", "max_tokens": 20,
                                "grammar": 'root ::= ("yes" | "no") "."', "temperature": 0})
        self.assertIn("".join(e.get("text", "") for e in events), ("yes.", "no."))
        self.assertEqual(events[-1]["stop_reason"], "eos")
        bad = self.d.ndjson({"id": 2, "op": "generate", "prompt": "x", "grammar": "root ::= [a-z\nother ::= \"b\""})
        self.assertEqual(bad[-1]["event"], "error")
        self.assertEqual(bad[-1]["error"]["code"], "bad_request")
        self.assertRegex(bad[-1]["error"]["message"], r'^grammar: .*\(line 1, column 10, rule "root"\)$')
        undefined = self.d.ndjson({"id": 3, "op": "generate", "prompt": "x", "grammar": "root ::= item"})
        self.assertIn('rule "item" is used but not defined', undefined[-1]["error"]["message"])
        refused = self.d.ndjson({"id": 4, "op": "generate", "prompt": "x", "json_schema": {"type": "string", "not": {}}})
        self.assertEqual(refused[-1]["error"]["code"], "bad_request")
        self.assertIn("/not", refused[-1]["error"]["message"])
        both = self.d.ndjson({"id": 5, "op": "generate", "prompt": "x", "json_schema": {}, "grammar": 'root ::= "a"'})
        self.assertEqual(both[-1]["error"]["code"], "bad_request")
        looping = self.d.ndjson({"id": 6, "op": "generate", "prompt": "x", "grammar": 'root ::= "a" | root "b"'})
        self.assertIn("left recursion", looping[-1]["error"]["message"])

    def test_openai_response_format(self):
        client = self.d.openai()
        schema = SCHEMAS["refs"]
        reply = client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Give two points as JSON."}], max_tokens=200,
            temperature=0, response_format={"type": "json_schema", "json_schema": {"name": "segment", "schema": schema, "strict": True}})
        jsonschema.validate(json.loads(reply.choices[0].message.content), schema)
        self.assertEqual(reply.choices[0].finish_reason, "stop")
        reply = client.chat.completions.create(
            model="coder", messages=[{"role": "user", "content": "Describe a cat in JSON."}], max_tokens=200,
            temperature=0, response_format={"type": "json_object"})
        self.assertIsInstance(json.loads(reply.choices[0].message.content), dict)
        with self.assertRaises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="smollm2", messages=[{"role": "user", "content": "x"}], max_tokens=5,
                response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "string", "uniqueItems": True}}})
        self.assertIn("uniqueItems", str(caught.exception))
        # llama.cpp server's extension field works too.
        reply = client.completions.create(model="smollm2", prompt="Answer:", max_tokens=5, temperature=0,
                                          extra_body={"grammar": 'root ::= "ok"'})
        self.assertEqual(reply.choices[0].text, "ok")

    def test_ollama_format(self):
        client = self.d.ollama()
        schema = SCHEMAS["enums"]
        reply = client.chat(model="smollm2", messages=[{"role": "user", "content": "Pick a colour, a size and a count."}],
                            format=schema, options={"temperature": 0, "num_predict": 100})
        jsonschema.validate(json.loads(reply["message"]["content"]), schema)
        reply = client.generate(model="smollm2", prompt="A cat as JSON:", format="json", options={"temperature": 0, "num_predict": 200})
        self.assertIsInstance(json.loads(reply["response"]), dict)


FOOD = "A man is eating food."
BREAD = "A man is eating a piece of bread."
# Six hundred words: past MiniLM's 512 tokens.
LONG = " ".join(["word"] * 600)


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (norm(a) * norm(b))


def float32s(b64):
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def as_float32(v):
    return [struct.unpack("<f", struct.pack("<f", x))[0] for x in v]


class LongChatHistoryTests(unittest.TestCase):
    """A chat history longer than the context (docs/http.md): Ollama's /api/chat leaves the
    oldest turns out (system messages and the newest message stay), as Ollama does; OpenAI's chat
    refuses it, as OpenAI and llama.cpp's server do; a newest message that alone does not fit is
    a 400 on both."""

    CONTEXT = 256

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("-c", str(cls.CONTEXT), models=[("smollm2", SMOLLM2)])

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    SYSTEM = {"role": "system", "content": "You are a terse assistant who answers sums."}
    NEWEST = {"role": "user", "content": "And what is 7 plus 8?"}

    @staticmethod
    def turn(i):
        return [{"role": "user", "content": f"Question {i}: what is {i} plus {i}? Explain the arithmetic in a sentence."},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}, since adding a number to itself doubles it."}]

    def ollama_chat(self, messages):
        return self.d.ollama().chat(model="smollm2", messages=messages, options={"num_predict": 6, "temperature": 0})

    def test_ollama_chat_leaves_the_oldest_turns_out(self):
        turns = [self.turn(i) for i in range(20)]
        whole = [self.SYSTEM] + [m for t in turns for m in t] + [self.NEWEST]
        reply = self.ollama_chat(whole)
        self.assertTrue(reply["done"])
        self.assertLess(reply["prompt_eval_count"] + 6, self.CONTEXT)
        # The prompt is the system message and the newest whole turns: the same messages sent
        # through OpenAI's chat (which never leaves anything out) give the same prompt length
        # and the same greedy reply. Longer windows than the daemon's are refused there or longer.
        for kept in range(len(turns) - 1, -1, -1):
            window = [self.SYSTEM] + [m for t in turns[len(turns) - kept:] for m in t] + [self.NEWEST]
            try:
                alone = self.d.openai().chat.completions.create(
                    model="smollm2", messages=window, max_tokens=6, temperature=0)
            except openai.BadRequestError:
                continue
            if alone.usage.prompt_tokens > reply["prompt_eval_count"]:
                continue
            self.assertEqual(alone.usage.prompt_tokens, reply["prompt_eval_count"], kept)
            self.assertEqual(alone.choices[0].message.content, reply["message"]["content"])
            break
        else:
            self.fail("no window of the newest turns gives the daemon's prompt")

    def test_openai_chat_refuses_a_history_longer_than_the_context(self):
        whole = [self.SYSTEM] + [m for i in range(20) for m in self.turn(i)] + [self.NEWEST]
        with self.assertRaises(openai.BadRequestError) as caught:
            self.d.openai().chat.completions.create(model="smollm2", messages=whole, max_tokens=6, temperature=0)
        self.assertEqual(caught.exception.status_code, 400)
        self.assertEqual(caught.exception.code, "too_large")

    def test_a_newest_message_longer_than_the_context_is_400_on_both(self):
        huge = {"role": "user", "content": " ".join(f"word{i}" for i in range(600))}
        with self.assertRaises(ollama.ResponseError) as caught:
            self.ollama_chat([self.SYSTEM] + self.turn(1) + [huge])
        self.assertEqual(caught.exception.status_code, 400)
        self.assertIn("context", caught.exception.error)
        with self.assertRaises(openai.BadRequestError):
            self.d.openai().chat.completions.create(model="smollm2", messages=[huge], max_tokens=6, temperature=0)
        # The daemon still answers.
        self.assertTrue(self.ollama_chat([self.NEWEST])["done"])


class EmbeddingTests(unittest.TestCase):
    """Embeddings (docs/embeddings.md) from slmd serving all-MiniLM-L6-v2 (a BERT encoder, 384
    dims) beside SmolLM2 (a decoder, 576 dims): OpenAI's SDK, Ollama's client, the NDJSON op,
    and their metrics."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(models=[("smollm2", SMOLLM2), ("minilm", MINILM)])
        # The OpenAI SDK with every request body recorded, to see which encoding it asked for.
        cls.sent = []
        cls.recording = openai.OpenAI(
            base_url="http://slmd/v1", api_key="unused",
            http_client=httpx.Client(transport=httpx.HTTPTransport(uds=cls.d.socket), timeout=120,
                                     event_hooks={"request": [lambda r: cls.sent.append(json.loads(r.read()))]}))

    @classmethod
    def tearDownClass(cls):
        cls.recording.close()
        cls.d.stop()

    def embed(self, **fields):
        """One NDJSON embed; its last event."""
        return self.d.ndjson({"id": 1, "op": "embed", **fields})[-1]

    def assertUnit(self, v, msg=None):
        self.assertAlmostEqual(norm(v), 1.0, delta=1e-5, msg=msg)

    def in_flight(self, requests, timeout=300):
        """Sends `requests` on one connection at once; each id's events up to its last one."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.d.socket)
            s.settimeout(timeout)
            s.sendall(b"".join((json.dumps(r) + "\n").encode() for r in requests))
            events = {r["id"]: [] for r in requests}
            open_ids, buffer = set(events), b""
            while open_ids:
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, f"connection closed with {open_ids} open")
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    events[event["id"]].append(event)
                    if event["event"] not in ("token", "running"):
                        open_ids.discard(event["id"])
            return events

    # OpenAI /v1/embeddings through the official SDK.

    def test_openai_sdk_default_encoding(self):
        self.sent.clear()
        reply = self.recording.embeddings.create(model="minilm", input=[FOOD, BREAD])
        # The SDK asks for base64 when numpy is importable and decodes it itself; else floats.
        asked = self.sent[-1].get("encoding_format")
        self.assertEqual(asked, "base64" if importlib.util.find_spec("numpy") else None)
        self.assertEqual(reply.object, "list")
        self.assertEqual(reply.model, "minilm")
        self.assertEqual([e.index for e in reply.data], [0, 1])
        a, b = (e.embedding for e in reply.data)
        self.assertEqual((len(a), len(b)), (384, 384))
        self.assertUnit(a)
        self.assertUnit(b)
        # sentence-transformers' model card: 0.7553 for this pair.
        self.assertAlmostEqual(cosine(a, b), 0.7553, delta=0.005)
        events = self.d.ndjson({"id": 1, "op": "embed", "model": "minilm", "input": [FOOD, BREAD]})
        self.assertEqual(reply.usage.prompt_tokens, events[-1]["prompt_tokens"])
        self.assertEqual(reply.usage.total_tokens, reply.usage.prompt_tokens)
        self.assertEqual(as_float32(a), as_float32(events[-1]["embeddings"][0]))

    def test_openai_float_and_base64_are_the_same_vectors(self):
        client = self.d.openai()
        floats = client.embeddings.create(model="minilm", input=FOOD, encoding_format="float").data[0].embedding
        self.assertEqual(len(floats), 384)
        self.assertIsInstance(floats[0], float)
        encoded = client.embeddings.create(model="minilm", input=FOOD, encoding_format="base64").data[0].embedding
        self.assertIsInstance(encoded, str)
        self.assertEqual(float32s(encoded), as_float32(floats))

    def test_openai_dimensions(self):
        client = self.d.openai()
        full = client.embeddings.create(model="minilm", input=FOOD, encoding_format="float").data[0].embedding
        for dims in (128, 7):
            v = client.embeddings.create(model="minilm", input=FOOD, dimensions=dims,
                                         encoding_format="float").data[0].embedding
            self.assertEqual(len(v), dims)
            self.assertUnit(v)
            self.assertGreater(cosine(v, full[:dims]), 0.999999)  # the prefix, normalised again
        with self.assertRaises(openai.BadRequestError) as caught:
            client.embeddings.create(model="minilm", input=FOOD, dimensions=385)
        self.assertIn("384", str(caught.exception))

    def test_openai_token_id_input(self):
        ids = json.loads(subprocess.run([SLM, "tokenize", "-m", MINILM, "--add-special", FOOD],
                                        capture_output=True, text=True, check=True).stdout)
        self.assertEqual((ids[0], ids[-1]), (101, 102))  # [CLS] … [SEP]: ids are taken as given
        client = self.d.openai()
        text = client.embeddings.create(model="minilm", input=FOOD, encoding_format="float")
        one = client.embeddings.create(model="minilm", input=ids, encoding_format="float")
        self.assertEqual(one.usage.prompt_tokens, len(ids))
        self.assertEqual(one.usage.prompt_tokens, text.usage.prompt_tokens)
        self.assertEqual(one.data[0].embedding, text.data[0].embedding)
        two = client.embeddings.create(model="minilm", input=[ids, ids[:3] + [102]], encoding_format="float")
        self.assertEqual(len(two.data), 2)
        self.assertEqual(two.data[0].embedding, text.data[0].embedding)
        self.assertEqual(two.usage.prompt_tokens, len(ids) + 4)
        with self.assertRaises(openai.BadRequestError) as caught:
            client.embeddings.create(model="minilm", input=[101, 30522, 102])
        self.assertIn("out of range", str(caught.exception))

    def test_openai_errors(self):
        client = self.d.openai()
        with self.assertRaises(openai.NotFoundError) as caught:
            client.embeddings.create(model="text-embedding-3-small", input=FOOD)
        self.assertEqual(caught.exception.status_code, 404)
        self.assertIn("text-embedding-3-small", str(caught.exception))
        for bad in ([], ["a", 1], [[101, 102], "a"], [-1], [[]]):
            with self.assertRaises(openai.BadRequestError, msg=repr(bad)) as caught:
                client.embeddings.create(model="minilm", input=bad)
            self.assertEqual(caught.exception.status_code, 400)
        with self.assertRaises(openai.BadRequestError) as caught:
            client.embeddings.create(model="minilm", input=[FOOD] * 2049)
        self.assertIn("at most 2048", str(caught.exception))
        with self.assertRaises(openai.BadRequestError) as caught:
            client.embeddings.create(model="minilm", input=LONG)
        self.assertIn("at most 512", str(caught.exception))
        r = self.d.http.post("/v1/embeddings", json={"model": "minilm", "input": "x", "encoding_format": "int8"})
        self.assertEqual((r.status_code, r.json()["error"]["param"]), (400, "encoding_format"))
        r = self.d.http.post("/v1/embeddings", json={"model": "minilm", "input": "x", "truncate": True})
        self.assertEqual((r.status_code, r.json()["error"]["param"]), (400, "truncate"))
        self.assertEqual(self.d.http.get("/v1/embeddings").status_code, 405)

    def test_a_decoder_gives_embeddings_too(self):
        reply = self.d.openai().embeddings.create(model="smollm2", input=["Paris is in France.", "Bananas are yellow."],
                                                  encoding_format="float")
        self.assertEqual([len(e.embedding) for e in reply.data], [576, 576])
        for e in reply.data:
            self.assertUnit(e.embedding)

    # Ollama /api/embed and /api/embeddings through the ollama client.

    def test_ollama_embed(self):
        client = self.d.ollama()
        reply = client.embed(model="minilm", input=[FOOD, BREAD])
        self.assertEqual(reply.model, "minilm")
        self.assertEqual([len(v) for v in reply.embeddings], [384, 384])
        for v in reply.embeddings:
            self.assertUnit(v)
        self.assertAlmostEqual(cosine(*reply.embeddings), 0.7553, delta=0.005)
        openai_reply = self.d.openai().embeddings.create(model="minilm", input=[FOOD, BREAD], encoding_format="float")
        self.assertEqual(as_float32(reply.embeddings[0]), as_float32(openai_reply.data[0].embedding))
        self.assertEqual(reply.prompt_eval_count, openai_reply.usage.prompt_tokens)
        self.assertGreater(reply.total_duration, 0)
        self.assertIsNotNone(reply.load_duration)
        one = client.embed(model="minilm:latest", input=FOOD, keep_alive="10m", options={"num_ctx": 512})
        self.assertEqual(as_float32(one.embeddings[0]), as_float32(reply.embeddings[0]))
        r = self.d.http.post("/api/embed", json={"model": "minilm", "input": FOOD, "dimensions": 64})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(r.json()["embeddings"][0]), 64)
        self.assertUnit(r.json()["embeddings"][0])

    def test_ollama_embed_truncates_by_default(self):
        client = self.d.ollama()
        reply = client.embed(model="minilm", input=[LONG, FOOD])
        self.assertEqual(reply.prompt_eval_count, 512 + 8)
        self.assertUnit(reply.embeddings[0])
        # Cut to its first 510 words and [SEP]: the same as those words alone.
        cut = client.embed(model="minilm", input=" ".join(["word"] * 510))
        self.assertGreater(cosine(reply.embeddings[0], cut.embeddings[0]), 0.99999)
        with self.assertRaises(ollama.ResponseError) as caught:
            client.embed(model="minilm", input=[FOOD, LONG], truncate=False)
        self.assertEqual(caught.exception.status_code, 400)
        self.assertIn("input 1 is 602 tokens, the model takes at most 512", str(caught.exception))

    def test_ollama_legacy_embeddings_are_not_normalised(self):
        client = self.d.ollama()
        legacy = client.embeddings(model="minilm", prompt=FOOD).embedding
        self.assertEqual(len(legacy), 384)
        self.assertGreater(abs(norm(legacy) - 1), 0.01)
        normalised = client.embed(model="minilm", input=FOOD).embeddings[0]
        self.assertGreater(cosine(legacy, normalised), 0.999999)
        r = self.d.http.post("/api/embeddings", json={"model": "minilm"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("prompt", r.json()["error"])

    def test_ollama_errors(self):
        client = self.d.ollama()
        with self.assertRaises(ollama.ResponseError) as caught:
            client.embed(model="all-minilm", input=FOOD)
        self.assertEqual(caught.exception.status_code, 404)
        with self.assertRaises(ollama.ResponseError) as caught:
            client.embeddings(model="all-minilm", prompt=FOOD)
        self.assertEqual(caught.exception.status_code, 404)
        for body in ({"model": "minilm", "input": []}, {"model": "minilm", "input": 5},
                     {"model": "minilm", "input": "x", "options": 5}, {"model": "minilm", "input": "x", "bogus": 1}):
            r = self.d.http.post("/api/embed", json=body)
            self.assertEqual(r.status_code, 400, body)
            self.assertIsInstance(r.json()["error"], str)

    # The NDJSON op.

    def test_ndjson_embed_reply(self):
        reply = self.embed(model="minilm", input=[FOOD, BREAD])
        self.assertEqual(list(reply), ["id", "event", "model", "embeddings", "prompt_tokens"])
        self.assertEqual((reply["event"], reply["model"]), ("embeddings", "minilm"))
        a, b = reply["embeddings"]
        self.assertAlmostEqual(cosine(a, b), 0.7553, delta=0.005)
        self.assertEqual(reply["prompt_tokens"], 8 + 11)
        one = self.embed(model="minilm", input=FOOD)
        self.assertEqual(one["embeddings"], [a])  # a string is a list of one
        default = self.embed(input=FOOD)  # the default model: SmolLM2, a decoder
        self.assertEqual((default["model"], len(default["embeddings"][0])), ("smollm2", 576))
        raw = self.embed(model="minilm", input=FOOD, normalize=False)["embeddings"][0]
        self.assertGreater(abs(norm(raw) - 1), 0.01)
        self.assertGreater(cosine(raw, a), 0.999999)

    def test_ndjson_binary(self):
        for dims in (384, 128, 64, 12):
            floats = self.embed(model="minilm", input=[FOOD, BREAD], dims=dims)["embeddings"]
            bits = self.embed(model="minilm", input=[FOOD, BREAD], dims=dims, binary=True)["embeddings"]
            for v, hexits in zip(floats, bits):
                self.assertEqual(len(hexits), (dims + 7) // 8 * 2)
                value = int(hexits, 16)
                width = len(hexits) * 4
                # The most significant bit of the first byte is dimension 0; a bit is set for > 0.
                self.assertEqual([value >> (width - 1 - i) & 1 for i in range(dims)], [int(x > 0) for x in v], dims)
                self.assertEqual(value & ((1 << (width - dims)) - 1), 0)  # padding bits clear

    def test_ndjson_pooling(self):
        tokens = self.embed(model="minilm", input=[FOOD, BREAD], pooling="none", normalize=False)
        self.assertEqual(tokens["prompt_tokens"], 8 + 11)
        per_token = tokens["embeddings"]
        self.assertEqual([len(t) for t in per_token], [8, 11])
        self.assertTrue(all(len(v) == 384 for t in per_token for v in t))
        mean = self.embed(model="minilm", input=FOOD, pooling="mean")["embeddings"][0]
        self.assertEqual(self.embed(model="minilm", input=FOOD)["embeddings"][0], mean)  # the file's pooling
        by_hand = [sum(column) / 8 for column in zip(*per_token[0])]
        self.assertGreater(cosine(by_hand, mean), 0.999999)
        cls = self.embed(model="minilm", input=FOOD, pooling="cls")["embeddings"][0]
        self.assertGreater(cosine(cls, per_token[0][0]), 0.999999)
        last = self.embed(model="minilm", input=FOOD, pooling="last")["embeddings"][0]
        self.assertGreater(cosine(last, per_token[0][-1]), 0.999999)

    def test_ndjson_pooling_none_of_a_one_token_input(self):
        # A one-token input's pooling "none" embedding is still a list of per-token vectors.
        reply = self.embed(input=["Hi", "Hi there"], pooling="none", dims=4)  # SmolLM2: 1 and 2 tokens
        self.assertEqual([len(t) for t in reply["embeddings"]], [1, 2])
        self.assertIsInstance(reply["embeddings"][0][0], list)

    def test_ndjson_errors(self):
        cases = [
            (dict(model="minilm", input=FOOD, pooling="max"), "bad_request", "pooling"),
            (dict(model="minilm", input=FOOD, dims=0), "bad_request", "dims"),
            (dict(model="minilm", input=FOOD, dims=385), "bad_request", "384"),
            (dict(model="minilm", input=[]), "bad_request", "empty"),
            (dict(model="minilm", input=[FOOD, 3]), "bad_request", "input"),
            (dict(model="minilm"), "bad_request", "input"),
            (dict(model="minilm", input=FOOD, dimensions=4), "bad_request", "dimensions"),
            (dict(model="minilm", input=FOOD, binary="yes"), "bad_request", "binary"),
            (dict(model="minilm", input=[FOOD] * 2049), "bad_request", "at most 2048"),
            (dict(model="minilm", input=[FOOD, LONG]), "too_large", "input 1 is 602 tokens, the model takes at most 512"),
            (dict(model="all-minilm", input=FOOD), "not_found", "all-minilm"),
        ]
        for fields, code, text in cases:
            reply = self.embed(**fields)
            self.assertEqual(reply["event"], "error", fields)
            self.assertEqual(reply["error"]["code"], code, fields)
            self.assertIn(text, reply["error"]["message"], fields)
        cut = self.embed(model="minilm", input=[FOOD, LONG], truncate=True)
        self.assertEqual(cut["event"], "embeddings")
        self.assertEqual(cut["prompt_tokens"], 8 + 512)

    def test_the_encoder_refuses_generation(self):
        for request in ({"op": "generate", "prompt": "Hi"}, {"op": "chat", "message": "Hi"}):
            reply = self.d.ndjson({"id": 1, "model": "minilm", "max_tokens": 4, **request})[-1]
            self.assertEqual(reply["error"]["code"], "bad_request", request)
            self.assertIn("is an encoder, it only gives embeddings", reply["error"]["message"])
        with self.assertRaises(openai.BadRequestError) as caught:
            self.d.openai().chat.completions.create(model="minilm", messages=[{"role": "user", "content": "Hi"}])
        self.assertIn("encoder", str(caught.exception))
        with self.assertRaises(ollama.ResponseError) as caught:
            self.d.ollama().generate(model="minilm", prompt="Hi")
        self.assertEqual(caught.exception.status_code, 400)

    def test_embed_and_generate_in_flight_on_one_connection(self):
        generate = {"op": "generate", "prompt": "The capital of France is", "max_tokens": 12, "temperature": 0}
        alone_text = "".join(e.get("text", "") for e in self.d.ndjson({"id": 1, **generate}))
        texts = [LONG] * 4 + [FOOD]
        alone = {m: self.embed(model=m, input=texts, truncate=True)["embeddings"] for m in ("minilm", "smollm2")}
        # An embed on the encoder (its own inference thread) and one on the decoder that generates.
        events = self.in_flight([
            {"id": "e1", "op": "embed", "model": "minilm", "input": texts, "truncate": True},
            {"id": "g", **generate},
            {"id": "e2", "op": "embed", "model": "smollm2", "input": texts, "truncate": True},
        ])
        self.assertEqual(events["g"][-1]["event"], "done")
        self.assertEqual("".join(e.get("text", "") for e in events["g"]), alone_text)
        for id, model in (("e1", "minilm"), ("e2", "smollm2")):
            self.assertEqual(events[id][-1]["event"], "embeddings", events[id][-1])
            self.assertEqual(len(events[id]), 1)
            for v, w in zip(events[id][-1]["embeddings"], alone[model]):
                self.assertGreater(cosine(v, w), 0.99999, model)

    def test_cancel_an_embed_in_flight(self):
        # Eight 512-token inputs: two encoder passes of 2048 tokens, seconds each.
        events = self.in_flight([
            {"id": 1, "op": "embed", "model": "minilm", "input": [LONG] * 8, "truncate": True},
            {"id": 2, "op": "cancel", "target": 1},
        ])
        self.assertEqual(events[2], [{"id": 2, "event": "ok"}])
        self.assertEqual(len(events[1]), 1)
        self.assertEqual((events[1][0]["event"], events[1][0]["stop_reason"]), ("done", "cancelled"))

    def test_slm_embed_prints_the_same_vectors(self):
        out = subprocess.run([SLM, "embed", "-m", MINILM, FOOD, BREAD], capture_output=True, text=True, check=True).stdout
        lines = [json.loads(line) for line in out.splitlines()]
        reply = self.embed(model="minilm", input=[FOOD, BREAD])["embeddings"]
        for v, w in zip(lines, reply):
            self.assertGreater(cosine(v, w), 0.999999)
        bits = subprocess.run([SLM, "embed", "-m", MINILM, "--binary", "--dims", "64", FOOD],
                              capture_output=True, text=True, check=True).stdout
        self.assertEqual(json.loads(bits), self.embed(model="minilm", input=FOOD, binary=True, dims=64)["embeddings"][0])

    def test_metrics_count_the_embedding_requests(self):
        before = self.d.metrics()
        self.d.openai().embeddings.create(model="minilm", input=FOOD)
        self.d.http.post("/v1/embeddings", json={"model": "minilm", "input": []})
        self.d.http.post("/v1/embeddings", json={"model": "nope", "input": "x"})
        self.d.ollama().embed(model="minilm", input=FOOD)
        self.d.http.post("/api/embed", json={"model": "minilm", "input": LONG, "truncate": False})
        self.d.ollama().embeddings(model="minilm", prompt=FOOD)
        self.embed(model="minilm", input=FOOD)
        self.embed(model="minilm", input=FOOD, dims=1000)
        after = self.d.metrics()
        expected = [
            (dict(protocol="http", endpoint="/v1/embeddings", status="200"), 1),
            (dict(protocol="http", endpoint="/v1/embeddings", status="400"), 1),
            (dict(protocol="http", endpoint="/v1/embeddings", status="404"), 1),
            (dict(protocol="http", endpoint="/api/embed", status="200"), 1),
            (dict(protocol="http", endpoint="/api/embed", status="400"), 1),
            (dict(protocol="http", endpoint="/api/embeddings", status="200"), 1),
            (dict(protocol="ndjson", endpoint="embed", status="ok"), 1),
            (dict(protocol="ndjson", endpoint="embed", status="error"), 1),
        ]
        for labels, n in expected:
            self.assertEqual(counter(after, "slm_requests_total", **labels) - counter(before, "slm_requests_total", **labels),
                             n, labels)
        self.assertEqual(after[("slm_model_loaded", (("model", "minilm"),))], 1)


class HTTPLimitsTests(unittest.TestCase):
    """Abuse: slow headers, oversized headers and bodies, pipelined garbage, many keep-alive
    requests. Every one gets a clear 4xx and the daemon's memory and descriptors come back."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--http-read-timeout-ms", "500", "--http-idle-timeout-ms", "1000", "--http-max-body-bytes", "65536",
                       "--keep-alive", "-1")
        cls.d.raw(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        time.sleep(0.2)
        cls.baseline_fds = cls.d.fds()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_slow_headers_get_408_and_close(self):
        start = time.time()
        reply = self.d.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", read_timeout=5)
        self.assertTrue(reply.startswith(b"HTTP/1.1 408 "), reply[:60])
        self.assertLess(time.time() - start, 3)

    def test_oversized_headers_get_431(self):
        reply = self.d.raw(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply[:60])
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        reply = self.d.raw(b"GET /health HTTP/1.1\r\n" + many + b"\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply[:60])

    def test_oversized_body_gets_413(self):
        reply = self.d.raw(b"POST /v1/completions HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1000)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413 "), reply[:60])

    def test_pipelined_garbage_after_a_good_request(self):
        reply = self.d.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01garbage\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:60])
        self.assertIn(b"HTTP/1.1 400 ", reply)

    def test_a_thousand_keep_alive_requests_on_one_connection(self):
        rss_before = self.d.rss_kb()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.d.socket)
            request = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
            answered, buffer = 0, b""
            for _ in range(1000):
                s.sendall(request)
                while buffer.count(b"HTTP/1.1 200 ") <= answered or not buffer.endswith(b"}]}"):
                    buffer += s.recv(65536)
                answered = buffer.count(b"HTTP/1.1 200 ")
            self.assertEqual(answered, 1000)
        time.sleep(0.3)
        self.assertEqual(self.d.fds(), self.baseline_fds)
        growth = self.d.rss_kb() - rss_before
        print(f"1000 keep-alive requests: RSS {rss_before} kB -> +{growth} kB, fds {self.d.fds()}", file=sys.stderr)
        self.assertLess(growth, 8 * 1024)

    def test_idle_keep_alive_connections_are_closed(self):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.d.socket)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200 "))
            start = time.time()
            s.settimeout(5)
            self.assertEqual(s.recv(4096), b"")  # closed by the daemon
            self.assertLess(time.time() - start, 3)

    def test_curl_gets_100_continue_for_a_large_body(self):
        # Refused as soon as it is read (an unknown field), so the time is curl's waiting alone.
        body = json.dumps({"prompt": "x", "padding": "x" * 2000})
        start = time.time()
        # curl asks for it by itself above some body size (which depends on its version).
        out = subprocess.run(["curl", "-sS", "-v", "--unix-socket", self.d.socket, "http://x/v1/completions",
                              "-H", "Expect: 100-continue", "-d", body],
                             capture_output=True, text=True, timeout=30)
        self.assertIn("100 Continue", out.stderr)
        self.assertEqual(json.loads(out.stdout)["error"]["param"], "padding")
        self.assertLess(time.time() - start, 0.9, "curl waited for a 100 Continue that did not come")

    def test_descriptors_come_back(self):
        for _ in range(20):
            self.d.raw(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)
        self.assertEqual(self.d.fds(), self.baseline_fds)


class IdleUnloadTests(unittest.TestCase):
    def test_an_idle_model_is_unmapped(self):
        # --cpus 0: the loop thread (and libuv's threads) then run on the other CPUs, and the
        # model mapped on one of those threads must still get its workers on CPU 0.
        d = Daemon("--keep-alive", "1", "--cpus", "0")
        try:
            r = d.http.post("/api/generate", json={"model": "coder", "prompt": "Hi", "stream": False,
                                                   "options": {"num_predict": 4}})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertGreater(r.json()["load_duration"], 0)
            loaded = d.rss_kb()
            self.assertIn("coder", [m["name"] for m in d.http.get("/api/ps").json()["models"]])
            deadline = time.time() + 10
            while time.time() < deadline and "coder" in [m["name"] for m in d.http.get("/api/ps").json()["models"]]:
                time.sleep(0.2)
            time.sleep(0.3)
            unloaded = d.rss_kb()
            print(f"idle unload: RSS {loaded} kB with coder mapped, {unloaded} kB after", file=sys.stderr)
            self.assertNotIn("coder", [m["name"] for m in d.http.get("/api/ps").json()["models"]])
            self.assertLess(unloaded, loaded - 100 * 1024)
            # And it is mapped again on the next request.
            r = d.http.post("/api/generate", json={"model": "coder", "prompt": "Hi", "stream": False,
                                                   "options": {"num_predict": 2}})
            self.assertEqual(r.json()["eval_count"], 2)
        finally:
            d.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TCPListenerTests(unittest.TestCase):
    def test_loopback_needs_no_key(self):
        port = free_port()
        d = Daemon("--listen", f"127.0.0.1:{port}")
        try:
            time.sleep(0.2)
            r = httpx.get(f"http://127.0.0.1:{port}/v1/models")
            self.assertEqual(r.status_code, 200)
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
            reply = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi"}],
                                                   max_tokens=3, temperature=0)
            self.assertEqual(reply.usage.completion_tokens, 3)
            client.close()
            # TCP speaks HTTP only: an NDJSON line is a malformed request.
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b'{"id":1,"op":"info"}\n')
                self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
        finally:
            d.stop()

    def test_another_address_needs_a_key_and_every_request_sends_it(self):
        port = free_port()
        refused = subprocess.run([SLMD, "-m", SMOLLM2, "--listen", f"0.0.0.0:{port}", "--socket", "/tmp/unused.sock"],
                                 capture_output=True, text=True, timeout=30)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("--api-key-file", refused.stderr)
        key_file = os.path.join(tempfile.mkdtemp(prefix="slm-key-"), "key")
        with open(key_file, "w") as f:
            f.write("s3cret-key-of-24-chars!!\n")
        d = Daemon("--listen", f"0.0.0.0:{port}", "--api-key-file", key_file)
        try:
            time.sleep(0.2)
            url = f"http://127.0.0.1:{port}"
            self.assertEqual(httpx.get(url + "/v1/models").status_code, 401)
            wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer s3cret-key-of-24-chars!?"})
            self.assertEqual(wrong.status_code, 401)
            self.assertEqual(wrong.json()["error"]["code"], "invalid_api_key")
            client = openai.OpenAI(base_url=url + "/v1", api_key="s3cret-key-of-24-chars!!")
            self.assertEqual([m.id for m in client.models.list().data], ["smollm2", "coder"])
            client.close()
            # The Unix socket needs no key: the kernel says who the client is.
            self.assertEqual(d.http.get("/v1/models").status_code, 200)
        finally:
            d.stop()


class DocExamplesTests(unittest.TestCase):
    """Every `console` example of docs/http.md runs verbatim (the socket path replaced) and prints
    what the document shows, values that change between runs aside. Numbers that are not integers
    (embedding values) need only agree within 1e-4: their last digits may change with the order in
    which a kernel adds."""

    VOLATILE = {"created", "created_at", "modified_at", "expires_at", "total_duration", "load_duration",
                "prompt_eval_duration", "eval_duration", "id", "version", "size"}
    TOLERANCE = 1e-4

    def normalise(self, text):
        out = []
        for line in text.strip().splitlines():
            body = line[len("data: "):] if line.startswith("data: ") else line
            try:
                value = json.loads(body)
            except ValueError:
                out.append(line)
                continue
            out.append(self.scrub(value))
        return out

    def scrub(self, value):
        if isinstance(value, dict):
            return {k: ("…" if k in self.VOLATILE else self.scrub(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value

    def same(self, got, want):
        if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
            return abs(got - want) <= self.TOLERANCE
        if isinstance(want, dict):
            return isinstance(got, dict) and got.keys() == want.keys() and all(self.same(got[k], want[k]) for k in want)
        if isinstance(want, list):
            return isinstance(got, list) and len(got) == len(want) and all(map(self.same, got, want))
        return type(got) is type(want) and got == want

    def test_examples_run_verbatim(self):
        text = open(os.path.join(ROOT, "docs/http.md")).read()
        blocks = re.findall(r"```console\n(.*?)```", text, re.S)
        self.assertGreaterEqual(len(blocks), 6)
        d = Daemon(models=[("smollm2", SMOLLM2), ("coder", CODER), ("minilm", MINILM)])
        try:
            for block in blocks:
                command, _, expected = block.partition("\n")
                self.assertTrue(command.startswith("$ "), command)
                command = command[2:].replace("/run/slmd/slmd.sock", d.socket)
                out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
                self.assertEqual(out.returncode, 0, command + "\n" + out.stderr)
                got, want = self.normalise(out.stdout), self.normalise(expected)
                if not self.same(got, want):
                    dump = lambda lines: [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in lines]
                    self.assertEqual(dump(got), dump(want), command)
        finally:
            d.stop()


if __name__ == "__main__":
    for path in (SLMD, SLM, SMOLLM2, CODER, MINILM):
        if not path or not os.path.exists(path):
            print(f"error: {path or 'a model path'} is missing (run through scripts/test.sh)", file=sys.stderr)
            sys.exit(2)
    result = unittest.main(exit=False, verbosity=2).result
    # A known daemon bug's test (expectedFailure) is neither passed nor failed while the bug is
    # there; once it is fixed the test passes unexpectedly, which fails the run until the marker
    # goes.
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    not_run = len(result.skipped) + len(result.expectedFailures)
    print(f"HTTP API tests: {result.testsRun - failed - not_run} passed, {failed} failed")
    sys.exit(1 if failed else 0)
