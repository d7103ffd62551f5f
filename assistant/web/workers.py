"""`assistant serve --workers N`: N processes answering /api and /mcp on one listening socket
(the kernel hands each connection to one of them). Each opens the index itself; its vectors and
files are memory-mapped, so the processes share them through the page cache. The chat is not
served this way: Gradio keeps each browser session's queue in one process."""

from __future__ import annotations

import multiprocessing
import signal
from pathlib import Path

from ..errors import AssistantError


def api_only_app(assistant, host: str, auth, mcp: bool, served_by: str = ""):
    """/api and /mcp without the chat; `served_by` names this process in an X-Served-By
    header (which replica answered)."""
    from starlette.middleware import Middleware

    from .api import programs_app
    from .security import ApiAuth

    app = programs_app(
        assistant, host, mcp, [Middleware(ApiAuth, auth=auth)], login=auth is not None
    )
    if served_by:

        @app.middleware("http")
        async def name_the_process(request, call_next):
            response = await call_next(request)
            response.headers["x-served-by"] = served_by
            return response

    return app


def _worker(index: str, host: str, auth, mcp: bool, sock) -> None:
    import uvicorn

    from ..answer.assistant import Assistant

    app = api_only_app(Assistant.open(Path(index)), host, auth, mcp)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(index: Path, host: str, port: int, auth, mcp: bool, workers: int) -> None:
    """Runs `workers` API processes on host:port until interrupted."""
    import uvicorn

    sock = uvicorn.Config(None, host=host, port=port).bind_socket()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads forked
    processes = [
        context.Process(target=_worker, args=(str(index), host, auth, mcp, sock), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    print(f"JSON API on http://{host}:{port}/api in {workers} processes (no chat)", flush=True)
    stop = False

    def interrupted(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, interrupted)
    try:
        while not stop and all(p.is_alive() for p in processes):
            for process in processes:
                process.join(timeout=0.5)
        failed = [p.exitcode for p in processes if not p.is_alive()]
        if not stop and failed:
            raise AssistantError(
                f"A worker process stopped (exit code {failed[0]}), so the server stopped; "
                "its error, if any, is printed above; `assistant serve` without --workers "
                "shows it too."
            )
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        sock.close()
