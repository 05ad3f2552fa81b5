"""A local OpenAI-compatible server: the real SDK talks to it over real HTTP.

It answers `POST /v1/chat/completions` structured-output requests by the schema's name
(`AskTranslation`, `AskReply`, `EventSummary`) with plausible content worked out from the
messages, reports token usage, and records every request. Tests script replies ahead
(`script(Reply(status=429, headers={"Retry-After": "1"}), ...)`) to simulate 401, 429, 500,
refusals, odd content and slow answers.

Run it on its own to try the AI endpoints without a key:

    python3 tasks.py fake-openai --port 8765
    OPENAI_API_KEY=fake OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python3 tasks.py start
"""

import argparse
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JsonObject = dict[str, Any]  # a decoded JSON object


@dataclass
class Reply:
    """One scripted answer. Defaults: a 200 with the automatic content for the request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content: JsonObject | str | None = None  # the assistant message's JSON (or raw text)
    refusal: str | None = None  # answer with a refusal instead of content
    body: JsonObject | None = None  # the whole response body, for errors
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: JsonObject
    at: float

    @property
    def schema_name(self) -> str | None:
        response_format = self.body.get("response_format") or {}
        name = (response_format.get("json_schema") or {}).get("name")
        return str(name) if name is not None else None

    @property
    def text(self) -> str:
        """Every message's content, joined: what the model was shown."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


def _error(status: int, message: str, kind: str, code: str | None = None) -> JsonObject:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeOpenAI:
    """The server, in a background thread; use as a context manager or start()/stop()."""

    def __init__(self, api_key: str = "sk-fake-test-key", port: int = 0) -> None:
        self.api_key = api_key
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, then automatically again."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def completions(self, schema_name: str | None = None) -> list[Received]:
        return [
            r
            for r in self.requests
            if r.path.endswith("/chat/completions")
            and (schema_name is None or r.schema_name == schema_name)
        ]

    # -- serving ------------------------------------------------------------------------------

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[Reply, JsonObject]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return Reply(status=400), _error(400, "The body is not JSON.", "invalid_request_error")
        received = Received(path=path, headers=headers, body=body, at=time.monotonic())
        with self._lock:
            self.requests.append(received)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            given = headers.get("authorization", "").removeprefix("Bearer ")
            # Like OpenAI, echo part of the key: Trailmark must never pass this text on.
            message = f"Incorrect API key provided: {given}. You can find your API key at ..."
            return Reply(status=401), _error(401, message, "invalid_request_error", "invalid_key")
        if not path.endswith("/chat/completions"):
            return Reply(status=404), _error(404, f"Unknown path {path}", "invalid_request_error")
        reply = self._next_reply()
        if reply.body is not None or reply.status != 200:
            default = _error(reply.status, "Scripted failure.", "server_error")
            return reply, reply.body or default
        return reply, self._completion(received, reply)

    def _completion(self, received: Received, reply: Reply) -> JsonObject:
        if reply.refusal is not None:
            content: str | None = None
        elif reply.content is None:
            content = json.dumps(automatic_content(received))
        elif isinstance(reply.content, str):
            content = reply.content
        else:
            content = json.dumps(reply.content)
        prompt_tokens = max(1, len(received.text) // 4)
        completion_tokens = max(1, len(content or reply.refusal or "") // 4)
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": received.body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": reply.refusal},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply, body = fake._answer(self.path, headers, raw)
                if reply.delay:
                    time.sleep(reply.delay)
                data = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *_: object) -> None:
                pass

        return Handler


# ---------------------------------------------------------------------------------------------
# Automatic content: good enough to try the feature, deterministic for tests
# ---------------------------------------------------------------------------------------------

_VERBS = {
    "delet": "delete",
    "remov": "delete",
    "creat": "create",
    "updat": "update",
    "chang": "update",
    "view": "view",
    "export": "export",
    "import": "import",
    "logged in": "login",
    "log in": "login",
    "login": "login",
    "sign in": "login",
    "logout": "logout",
    "log out": "logout",
}
_NOUNS = ("repository", "user", "project", "invoice", "document", "file", "key", "team")


def _now_from(received: Received) -> datetime:
    match = re.search(r"current time is (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)", received.text)
    if match:
        return datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    return datetime.now(UTC)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def translate(question: str, now: datetime) -> JsonObject:
    """A filter for the question, by keywords; `mappable: false` when none apply."""
    text = question.lower()
    action_types = sorted({kind for stem, kind in _VERBS.items() if stem in text})
    entity_type = next(
        (noun for noun in _NOUNS if re.search(rf"\b({noun}|{noun[:-1]}ies)", text)), None
    )
    status = "failure" if "fail" in text else "pending" if "pending" in text else None
    after = before = None
    if "last week" in text or "past week" in text:
        after = now - timedelta(days=7)  # up to now: no upper bound
    elif "yesterday" in text:
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        after, before = today - timedelta(days=1), today
    elif "today" in text:
        after, before = now.replace(hour=0, minute=0, second=0, microsecond=0), None
    elif match := re.search(r"last (\d+) (day|hour)s?", text):
        unit = timedelta(days=1) if match.group(2) == "day" else timedelta(hours=1)
        after = now - int(match.group(1)) * unit
    actor = re.search(r"\b(?:by|actor)\s+([a-z0-9][a-z0-9_.@-]*[0-9_][a-z0-9_.@-]*)", text)
    details = [
        {"path": [key], "value": value}
        for key, value in re.findall(r"\b([a-z_]+)\s*=\s*([a-z0-9_-]+)", text)
    ]
    fields: JsonObject = {
        "action_types": action_types,
        "action": None,
        "entity_type": entity_type,
        "entity_id": None,
        "actor_id": actor.group(1) if actor else None,
        "status": status,
        "occurred_after": _z(after) if after else None,
        "occurred_before": _z(before) if before else None,
        "ip": None,
        "details": details,
        "text": [],
    }
    mappable = any(value for value in fields.values())
    return {"mappable": mappable, "filter": fields}


def _events(received: Received) -> list[JsonObject]:
    block = re.search(r"<events>\n(.*)\n</events>", received.text, re.DOTALL)
    if block is None:
        return []
    # One event per "\n"-separated line (not `splitlines()`: U+2028 and friends may sit
    # unescaped inside the JSON strings).
    return [json.loads(line) for line in block.group(1).split("\n") if line.startswith("{")]


def automatic_content(received: Received) -> JsonObject:
    if received.schema_name == "AskTranslation":
        question = str(received.body["messages"][-1]["content"])
        return translate(question, _now_from(received))
    events = _events(received)
    if received.schema_name == "AskReply":
        if not events:
            return {"answer": "The events shown do not answer the question."}
        latest = events[0]
        who = latest.get("actor_name") or latest.get("actor") or "the system"
        return {
            "answer": f"{len(events)} matching events; the latest is {latest['action_type']} of "
            f"{latest['entity']} by {who} at {latest['occurred_at']}."
        }
    if received.schema_name == "EventSummary":
        kinds: dict[str, int] = {}
        for event in events:
            kinds[event["action_type"]] = kinds.get(event["action_type"], 0) + 1
        counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return {
            "summary": f"{len(events)} events: {counted}.",
            "cited_event_ids": [event["id"] for event in events[:3]],
        }
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="fake", help="The key clients must send.")
    args = parser.parse_args()
    fake = FakeOpenAI(api_key=args.api_key, port=args.port)
    print(f"fake OpenAI API on {fake.url} (key {args.api_key!r}); Ctrl-C stops it", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()
