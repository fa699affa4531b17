"""The HTTP API of slmd (docs/http.md) with the real clients from PyPI: openai, ollama, httpx and
prometheus_client (pinned in scripts/http-clients.sh), against slmd on a temporary socket.

Run by scripts/test.sh:  PYTHONPATH=$(scripts/http-clients.sh) python3 Tests/http/test_http_api.py
Needs SLM_TEST_MODEL and SLM_TEST_MODEL_QWEN25CODER (the test command exports them) and the
release build (.build/release/slmd, .build/release/slm). Prints "HTTP API tests: N passed, M failed".
"""

import json
import os
import re
import shlex
import socket
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
PROMPT = "Name three colours of the rainbow."


class Daemon:
    """slmd on a temporary socket; stopped with SIGTERM."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="slm-http-")
        self.socket = os.path.join(self.dir, "slmd.sock")
        args = [SLMD, "-m", "smollm2=" + SMOLLM2, "-m", "coder=" + CODER, "--socket", self.socket,
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
        r = self.d.http.post("/v1/embeddings", json={"input": "x"})
        self.assertEqual(r.status_code, 501)
        self.assertIn("embeddings", r.json()["error"]["message"])
        with self.assertRaises(ollama.ResponseError) as caught:
            self.d.ollama().pull("llama3")
        self.assertEqual(caught.exception.status_code, 501)
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
    what the document shows, values that change between runs aside."""

    VOLATILE = {"created", "created_at", "modified_at", "expires_at", "total_duration", "load_duration",
                "prompt_eval_duration", "eval_duration", "id", "version", "size"}

    def normalise(self, text):
        out = []
        for line in text.strip().splitlines():
            body = line[len("data: "):] if line.startswith("data: ") else line
            try:
                value = json.loads(body)
            except ValueError:
                out.append(line)
                continue
            out.append(json.dumps(self.scrub(value), sort_keys=True))
        return out

    def scrub(self, value):
        if isinstance(value, dict):
            return {k: ("…" if k in self.VOLATILE else self.scrub(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value

    def test_examples_run_verbatim(self):
        text = open(os.path.join(ROOT, "docs/http.md")).read()
        blocks = re.findall(r"```console\n(.*?)```", text, re.S)
        self.assertGreaterEqual(len(blocks), 6)
        d = Daemon()
        try:
            for block in blocks:
                command, _, expected = block.partition("\n")
                self.assertTrue(command.startswith("$ "), command)
                command = command[2:].replace("/run/slmd/slmd.sock", d.socket)
                out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
                self.assertEqual(out.returncode, 0, command + "\n" + out.stderr)
                self.assertEqual(self.normalise(out.stdout), self.normalise(expected), command)
        finally:
            d.stop()


if __name__ == "__main__":
    for path in (SLMD, SLM, SMOLLM2, CODER):
        if not path or not os.path.exists(path):
            print(f"error: {path or 'a model path'} is missing (run through scripts/test.sh)", file=sys.stderr)
            sys.exit(2)
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"HTTP API tests: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
