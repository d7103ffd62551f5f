"""Locust profiles for `assistant serve` (run by scripts/load_test.py, or by hand:
`locust -f scripts/locustfile.py --host http://127.0.0.1:7860 ApiClient`).

- ApiClient: a program in a closed loop (no think time) posting {"question", "k": 3} to
  /api/ask; an answer counts only when it is 200 and answers the question asked.
- ChatUser: a person in the chat, asking every 5 s (LOAD_TEST_PACING) through the same Gradio
  queue protocol the page uses (queue/join, then the queue/data event stream, on the `respond`
  event). Locust records each question's round trip as one "CHAT question -> answer" entry.

Questions come from the bundled question sets (155); LOAD_TEST_UNIQUE=1 makes each API question
new (a random tag appended), so none is answered from the server's cache of question vectors.
LOAD_TEST_AUTH=USER:PASSWORD logs in (HTTP
Basic for the API; the chat's login form for chat users)."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path

from locust import FastHttpUser, constant, constant_pacing, events, task

ROOT = Path(__file__).resolve().parent.parent
QUESTION_FILES = [
    ROOT / "tests" / "data" / "article_questions.jsonl",
    ROOT / "tests" / "data" / "out_of_scope.jsonl",
    ROOT / "tests" / "data" / "independent" / "in_scope.jsonl",
]
PACING = float(os.environ.get("LOAD_TEST_PACING", "5"))
AUTH = os.environ.get("LOAD_TEST_AUTH", "")
UNIQUE = os.environ.get("LOAD_TEST_UNIQUE") == "1"  # a new question each time: no cache hits


def _questions() -> list[str]:
    found = []
    for path in QUESTION_FILES:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    found.append(json.loads(line)["question"])
    return found or ["Who condemned the PKK?"]


QUESTIONS = _questions()


class ApiClient(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()
        user, _, password = AUTH.partition(":")
        self.auth = (user, password) if AUTH else None

    @task
    def ask(self) -> None:
        question = self.rng.choice(QUESTIONS)
        if UNIQUE:
            question = f"{question} ({uuid.uuid4().hex[:8]})"
        with self.client.post(
            "/api/ask",
            json={"question": question, "k": 3},
            auth=self.auth,
            name="/api/ask",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
            elif json.loads(response.text)["question"] != question.strip():
                response.failure("the answer is to another question")


class ChatUser(FastHttpUser):
    wait_time = constant_pacing(PACING)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.session = uuid.uuid4().hex
        if AUTH:
            user, _, password = AUTH.partition(":")
            self.client.post("/login", data={"username": user, "password": password})
        config = self.client.get("/config", name="/config").json()
        by_name = {d.get("api_name"): d for d in config["dependencies"]}
        self.respond = by_name["respond"]
        components = {c["id"]: c for c in config["components"]}
        self.defaults = [
            components[i].get("props", {}).get("value") for i in self.respond["inputs"]
        ]
        time.sleep(self.rng.random() * PACING)  # users arrive spread over one pacing period

    @task
    def ask(self) -> None:
        question = self.rng.choice(QUESTIONS)
        data = [question, None, *self.defaults[2:]]
        started = time.perf_counter()
        error = None
        try:
            joined = self.client.post(
                "/gradio_api/queue/join",
                json={
                    "data": data,
                    "fn_index": self.respond["id"],
                    "trigger_id": self.respond["targets"][0][0],
                    "session_hash": self.session,
                    "event_data": None,
                },
                name="chat queue/join",
            )
            joined.raise_for_status()
            stream = self.client.get(
                f"/gradio_api/queue/data?session_hash={self.session}", name="chat queue/data"
            )
            stream.raise_for_status()
            error = _outcome(stream.text)
        except Exception as exc:  # noqa: BLE001 - reported to Locust as this question's failure
            error = exc
        events.request.fire(
            request_type="CHAT",
            name="question -> answer",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )


def _outcome(stream: str) -> Exception | None:
    """None when the event stream ends with an answer as the conversation's last turn."""
    for line in stream.splitlines():
        if not line.startswith("data: "):
            continue
        message = json.loads(line[6:])
        if message.get("msg") == "process_completed":
            if not message.get("success", True):
                return RuntimeError(f"the chat failed: {str(message.get('output'))[:200]}")
            page = message["output"]["data"][2]  # the conversation's HTML; the last turn is ours
            last = page.rsplit('<section class="turn"', 1)[-1]
            if '<section class="turn"' not in page or "state-error" in last:
                return RuntimeError(f"no answer in the conversation: {last[:200]}")
            return None
    return RuntimeError("the event stream ended without an answer")
