"""A local stand-in for the Anthropic Messages API that plays a fixed script of tool calls.

The real Claude Code CLI runs against it (``ANTHROPIC_BASE_URL``), so its own permission
engine decides whether each scripted ``Bash`` command runs: that is how the tests check what
a skill's ``allowed-tools`` grants, offline and without a model. Each request of the main
conversation (the one that offers the ``Skill`` tool) gets the next step: a tool call while
the script lasts, then a short text answer. Other requests (titles, summaries) get text.

``{skill_dir}`` in a scripted command is replaced by the folder that the expanded skill or
command text names (``python3 "<folder>/scripts/resolve_docs.py"``), which also shows that
Claude Code expanded ``${CLAUDE_SKILL_DIR}`` / ``${CLAUDE_PLUGIN_ROOT}``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPANDED_DIR = re.compile(r'python3 \\"([^"\\]+)/scripts/resolve_docs\.py\\"')
DENIED = "Permission for this tool use was denied"


@dataclass
class Step:
    tool: str
    input: dict


@dataclass
class ScriptedApi:
    steps: list[Step]
    requests: list[dict] = field(default_factory=list)
    skill_dir: str | None = None

    def __enter__(self) -> ScriptedApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                size = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}")
                api.requests.append(body)
                if "count_tokens" in self.path:
                    return self._json({"input_tokens": 1})
                return self._stream(api._next(body))

            def _json(self, data: dict) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, step: Step | None) -> None:
                if step is None:
                    block, delta, stop = ({"type": "text", "text": ""},
                                          {"type": "text_delta", "text": "done"}, "end_turn")
                else:
                    block = {"type": "tool_use", "id": f"toolu_{len(api.requests):04d}",
                             "name": step.tool, "input": {}}
                    delta = {"type": "input_json_delta", "partial_json": json.dumps(step.input)}
                    stop = "tool_use"
                message = {"id": "msg_stub", "type": "message", "role": "assistant",
                           "model": "stub", "content": [], "stop_reason": None,
                           "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
                events = [
                    ("message_start", {"type": "message_start", "message": message}),
                    ("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": block}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": delta}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 1},
                                       "delta": {"stop_reason": stop, "stop_sequence": None}}),
                    ("message_stop", {"type": "message_stop"}),
                ]
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for name, data in events:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _next(self, body: dict) -> Step | None:
        if not any(t.get("name") == "Skill" for t in body.get("tools") or []):
            return None  # a side request, not the main conversation
        messages = body.get("messages") or []
        done = sum(1 for m in messages if m.get("role") == "assistant"
                   for c in m.get("content") or [] if isinstance(c, dict)
                   and c.get("type") == "tool_use")
        found = EXPANDED_DIR.search(json.dumps(messages))
        if found:
            self.skill_dir = found.group(1)
        if done >= len(self.steps):
            return None
        step = self.steps[done]
        text = json.dumps(step.input).replace("{skill_dir}", self.skill_dir or "SKILL_DIR_NOT_SEEN")
        return Step(step.tool, json.loads(text))

    def results(self) -> list[tuple[dict, str, bool]]:
        """``(tool input, result text, is_error)`` for each scripted call, in order, from the
        last main-conversation request."""
        main = [b for b in self.requests if any(t.get("name") == "Skill"
                                                for t in b.get("tools") or [])]
        if not main:
            return []
        uses, results = {}, {}
        for message in main[-1].get("messages") or []:
            for block in message.get("content") or []:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_use":
                    uses[block["id"]] = block.get("input") or {}
                elif block.get("type") == "tool_result":
                    content = block.get("content")
                    if isinstance(content, list):
                        content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
                    results[block["tool_use_id"]] = (str(content), bool(block.get("is_error")))
        return [(uses[i], *results[i]) for i in uses if i in results]
