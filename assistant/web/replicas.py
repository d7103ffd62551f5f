"""`assistant serve --ray`: the JSON API (and /mcp) as N Ray Serve replicas over one index
folder. Questions only read an immutable index version, so replicas need nothing but the same
folder (shared storage on a cluster): each opens it, and before each question picks up the
version an ingest swapped in, as the single server does. Ray's HTTP proxy spreads the requests
over the replicas. The chat is not served here (run `assistant serve` for it)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

APP_NAME = "assistant"


def deployment(index: Path, host: str, auth, replicas: int, cpus: float = 1.0):
    """The bound Ray Serve application: `replicas` copies of the API over `index`."""
    from ray import serve

    @serve.deployment(
        name="api",
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus, "runtime_env": {"env_vars": _env()}},
        max_ongoing_requests=64,
    )
    @serve.ingress()
    class ApiReplica:
        def __init__(self, index: str, host: str, auth) -> None:
            from ..answer.assistant import Assistant

            self.index, self.host, self.auth = index, host, auth
            self.assistant = Assistant.open(Path(index))

        def __serve_build_asgi_app__(self):
            from .workers import api_only_app

            name = f"{socket.gethostname()}:{os.getpid()}"
            return api_only_app(self.assistant, self.host, self.auth, mcp=False, served_by=name)

    return ApiReplica.bind(str(index), host, auth)


def _env() -> dict[str, str]:
    """What each replica runs with: this embedder, one model thread per replica, offline."""
    from .. import settings

    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return {"ASSISTANT_EMBEDDER": settings.embedder_backend(), "ASSISTANT_THREADS": "1", **offline}


def start(index: Path, host: str, port: int, auth, replicas: int, address: str | None = None):
    """Starts the replicas and Ray's HTTP proxy on host:port; returns once they answer."""
    from ..errors import InvalidArgumentError
    from ..indexing.distributed import connect

    if replicas < 1:
        raise InvalidArgumentError(f"--replicas must be 1 or more, not {replicas}.")
    connect(address)  # a clear message when Ray is not installed
    try:
        from ray import serve
    except ImportError:
        raise InvalidArgumentError(
            "Ray Serve is not installed. Install the optional extra: pip install '.[distributed]'"
        ) from None
    serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
    serve.run(deployment(index, host, auth, replicas), name=APP_NAME, route_prefix="/")


def serve_replicas(
    index: Path, host: str, port: int, auth, replicas: int, address: str | None = None
) -> None:
    """Serves until interrupted, then removes the application."""
    from ray import serve

    start(index, host, port, auth, replicas, address)
    print(
        f"JSON API on http://{host}:{port}/api: {replicas} Ray Serve replicas over {index}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(APP_NAME)
