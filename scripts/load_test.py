"""Load test of `assistant serve` with Locust (the profiles are in scripts/locustfile.py).

    python scripts/load_test.py                         # both profiles, 50 users, 60 s each
    python scripts/load_test.py --profile api --ingest  # the API while an ingest runs
    python scripts/load_test.py --url http://127.0.0.1:7860 --profile chat
    python scripts/load_test.py --workers 2 --profile api

Without --url it serves a copy of the index (--index, default the bundled article's) on a free
port, so --ingest never changes the original. `api`: closed-loop clients on POST /api/ask;
`chat`: users asking every 5 s through the chat's own Gradio events. For each profile it prints
one JSON line: answers, answers/s, p50/p95/max in seconds, errors, and the server's CPU seconds
per answer when it started the server, with the machine (cores, CPU, load average). The load
generator shares the machine with the server, so on few cores the figures are a floor.
--ingest adds a new document to the served index during the run and reports when the server
first answered from it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
PROFILES = {"api": "ApiClient", "chat": "ChatUser"}
NEW_FACT = (
    "The harbour of Port Elsewhere has exactly seventeen blue cranes. They were painted blue "
    "in 1931 by the harbour master, Ada Quill, so that ships could see them through fog."
)
NEW_QUESTION = "How many blue cranes does the harbour of Port Elsewhere have?"


def machine() -> dict:
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return {"cores": os.cpu_count(), "cpu": model, "loadavg": " ".join(load)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU so far of a process and its live descendants (Linux), in seconds."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            if current == pid:
                return None
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        pending += [int(c) for c in children]
    return total / os.sysconf("SC_CLK_TCK")


def start_server(index: Path, args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(BIN / "assistant"), "serve", "--port", str(port), "--index", str(index)]
    command += ["--workers", str(args.workers)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("assistant serve exited: " + process.stderr.read().decode()[-2000:])
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/api/health", timeout=5).status_code == 200:
                return process, url
        time.sleep(0.5)
    process.kill()
    raise SystemExit("assistant serve did not start in 300 s")


def run_locust(
    url: str, profile: str, users: int, seconds: float, out: Path, unique: bool = False
) -> dict:
    prefix = out / profile
    command = [
        str(BIN / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{int(seconds)}s",
        "--stop-timeout",
        "10",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--exit-code-on-error",
        "0",
        PROFILES[profile],
    ]
    env = {**os.environ, "LOAD_TEST_UNIQUE": "1" if unique else "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, env=env)
    if done.returncode != 0:
        raise SystemExit(f"locust failed:\n{done.stderr[-3000:]}")
    name = "/api/ask" if profile == "api" else "question -> answer"
    with open(f"{prefix}_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == name)
    with open(f"{prefix}_failures.csv", newline="") as f:
        failures = [f"{r['Occurrences']}x {r['Error'][:200]}" for r in csv.DictReader(f)]
    answers = int(row["Request Count"]) - int(row["Failure Count"])
    return {
        "profile": profile,
        "users": users,
        "seconds": seconds,
        "answers": answers,
        "answers_per_s": round(answers / seconds, 1),
        "p50_s": float(row["50%"]) / 1000,
        "p95_s": float(row["95%"]) / 1000,
        "max_s": round(float(row["Max Response Time"]) / 1000, 3),
        "errors": int(row["Failure Count"]),
        "unique_questions": unique,
        "first_errors": failures[:5],
    }


def ingest_during(url: str, index: Path, after: float, report: dict) -> threading.Thread:
    """After `after` seconds, ingests a new document into `index`, then asks about it until
    the server answers from it; records both times in `report`."""

    def work() -> None:
        time.sleep(after)
        folder = Path(tempfile.mkdtemp(prefix="load-ingest-"))
        (folder / "port-elsewhere.txt").write_text(NEW_FACT, encoding="utf-8")
        started = time.monotonic()
        done = subprocess.run(
            [str(BIN / "assistant"), "ingest", str(folder), "--index", str(index)],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        report["ingest_s"] = round(time.monotonic() - started, 1)
        report["ingest_ok"] = done.returncode == 0
        while time.monotonic() - started < 60:
            answer = httpx.post(url + "/api/ask", json={"question": NEW_QUESTION}, timeout=30)
            passages = answer.json().get("passages", []) if answer.status_code == 200 else []
            if any("seventeen blue cranes" in p["text"] for p in passages):
                report["new_document_answered_after_s"] = round(time.monotonic() - started, 1)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server (default: start one on a free port)")
    parser.add_argument("--profile", choices=[*PROFILES, "both"], default="both")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per profile")
    parser.add_argument("--index", type=Path, help="index to serve a copy of (default: bundled)")
    parser.add_argument("--workers", type=int, default=1, help="assistant serve --workers N")
    parser.add_argument(
        "--ingest", action="store_true", help="ingest a new document during the api profile"
    )
    parser.add_argument(
        "--unique", action="store_true", help="api: a new question each time (no cache hits)"
    )
    args = parser.parse_args()
    profiles = list(PROFILES) if args.profile == "both" else [args.profile]
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        out, process, index, url = Path(tmp), None, None, args.url
        if url is None:
            index = Path(tmp) / "index"
            shutil.copytree(_source_index(args.index), index)
            process, url = start_server(index, args)
        url = url.rstrip("/")
        try:
            httpx.post(url + "/api/ask", json={"question": "Who condemned the PKK?"}, timeout=60)
            for profile in profiles:
                extra: dict = {}
                ingesting = None
                if args.ingest and profile == "api":
                    if index is None:
                        raise SystemExit("--ingest needs the server this script starts (no --url)")
                    ingesting = ingest_during(url, index, args.duration / 4, extra)
                cpu_before = cpu_seconds(process.pid) if process else None
                result = run_locust(url, profile, args.users, args.duration, out, args.unique)
                if cpu_before is not None and result["answers"]:
                    used = cpu_seconds(process.pid) - cpu_before
                    result["server_cpu_ms_per_answer"] = round(used / result["answers"] * 1000, 1)
                if ingesting is not None:
                    ingesting.join(timeout=60)
                result |= extra | {"workers": args.workers, "machine": machine()}
                print(json.dumps(result), flush=True)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    return 0


def _source_index(index: Path | None) -> Path:
    if index is not None:
        return index
    sys.path.insert(0, str(ROOT))
    from assistant.default_index import ensure_default_index
    from assistant.settings import default_index_dir

    ensure_default_index()
    return default_index_dir()


if __name__ == "__main__":
    sys.exit(main())
