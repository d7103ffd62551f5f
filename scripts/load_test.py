"""Load test: N concurrent gradio_client clients ask questions of a running chat for D seconds.

    python scripts/load_test.py                       # starts `assistant serve` on a free port
    python scripts/load_test.py --url http://127.0.0.1:7860/
    python scripts/load_test.py --clients 50 --duration 60 --server-concurrency 2 4 8

Each client loops: ask a question from the bundled question sets through the /ask endpoint,
wait for the answer, ask the next (no think time: a closed loop, the harshest setting). Reports
throughput, latency p50/p95/max and errors. The clients run on the same machine as the server, so
they compete with it for the CPU: on a 2-core machine the figures are a floor.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION_FILES = [
    ROOT / "tests" / "data" / "article_questions.jsonl",
    ROOT / "tests" / "data" / "out_of_scope.jsonl",
    ROOT / "tests" / "data" / "independent" / "in_scope.jsonl",
]


def questions() -> list[str]:
    found = []
    for path in QUESTION_FILES:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    found.append(json.loads(line)["question"])
    return found or ["Who condemned the PKK?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(concurrency: int, index: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cli = Path(sys.executable).parent / "assistant"
    args = [str(cli), "serve", "--port", str(port), "--concurrency", str(concurrency)]
    if index:
        args += ["--index", index]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("assistant serve exited; run it by hand to see why")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}/"
        time.sleep(0.5)
    process.kill()
    raise SystemExit("assistant serve did not start in 300 s")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(url: str, clients: int, duration: float, seed: int) -> dict:
    from gradio_client import Client

    pool = questions()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = [0.0]

    def start_clock() -> None:  # runs once, when every client has connected
        stop_at[0] = time.perf_counter() + duration

    ready = threading.Barrier(clients + 1, action=start_clock)

    def client_loop(number: int) -> None:
        rng = random.Random(seed + number)
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with lock:
                errors.append(f"connect: {type(exc).__name__}: {exc}")
            ready.wait()
            return
        ready.wait()
        while time.perf_counter() < stop_at[0]:
            question = rng.choice(pool)
            started = time.perf_counter()
            try:
                answer = json.loads(client.predict(question, api_name="/ask"))
                assert answer["question"] == question.strip()
                ok = True
            except Exception as exc:  # noqa: BLE001 - counted and reported
                ok = False
                message = f"{type(exc).__name__}: {exc}"[:200]
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors.append(message)

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()  # every client connected: the clock starts for all at once
    began = stop_at[0] - duration
    for thread in threads:
        thread.join(timeout=duration + 120)
    wall = time.perf_counter() - began
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "answers": len(latencies),
        "errors": len(errors),
        "throughput_per_s": round(len(latencies) / wall, 2),
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3) if latencies else None,
        "first_errors": sorted(set(errors))[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running chat (default: start one on a free port)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument(
        "--server-concurrency",
        type=int,
        nargs="+",
        default=[4],
        help="questions the started server answers at once; several values: one run each",
    )
    parser.add_argument("--index", help="index for the started server (default: the default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores (clients and server share them)", flush=True)
    runs = [None] if args.url else args.server_concurrency
    for concurrency in runs:
        process = None
        url = args.url
        if url is None:
            process, url = start_server(concurrency, args.index)
        try:
            from gradio_client import Client

            Client(url, verbose=False).predict("Who condemned the PKK?", api_name="/ask")  # warm
            result = run(url, args.clients, args.duration, args.seed)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        result["server_concurrency"] = concurrency
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
