"""What every benchmark records and runs with: the processor, and a timed child process."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run_timed(cmd: list[str], timeout: int = 3600) -> tuple[float, float, str]:
    """Runs `cmd`; returns its wall seconds, its peak resident memory (MB) and stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, env=ENV, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def machine() -> dict:
    """The CPU, its cores, and the load when measured (other programs share the machine)."""
    return {
        "cpu": cpu()["model"],
        "cores": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def cpu() -> dict:
    """The processor and its widest vector instructions: the ratios depend on them (onnxruntime
    uses AVX-512 wherever there is one; the torch wheel's MKL takes a generic path on AMD)."""
    info = {"model": platform.processor() or platform.machine(), "vector_isa": "unknown"}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    fields: dict[str, str] = {}
    for line in text.splitlines():  # the first processor's lines are enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    info["model"] = fields.get("model name") or info["model"]
    isa = [f for f in ("avx512f", "avx512_vnni", "avx512_bf16", "avx2", "fma") if f in flags]
    info["vector_isa"] = " ".join(isa) or "none of avx2/avx512"
    return info
