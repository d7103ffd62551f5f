"""The speed bar end to end: `assistant ingest` of a few hundred passages, process start
included, against a naive script (start Python, import sentence-transformers, encode, write a
faiss.IndexFlatIP) on the same passages, in the same run.

    .venv/bin/python bench/cli_speed.py                # 600 passages, 3 rounds, about 4 min
    .venv/bin/python bench/cli_speed.py --passages 300 --rounds 5

Rounds alternate the order (naive first, then this project first, ...) and each side keeps its
best round: load from other processes only ever slows a run. The ratio is naive's seconds over
this project's. The CPU, its vector instructions and the load average are printed with it;
`--out FILE` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import corpus as corpus_gen  # noqa: E402
from benchmark import OURS, PEERS, ROOT  # noqa: E402
from machine import cpu, run_timed  # noqa: E402

CLI = ROOT / ".venv" / "bin" / "assistant"


def commands(corpus: Path, work: Path) -> dict[str, list[str]]:
    naive_python = PEERS if PEERS.is_file() else OURS
    return {
        "naive": [
            str(naive_python),
            str(BENCH / "stacks.py"),
            "ingest",
            "naive",
            "--corpus",
            str(corpus),
            "--dir",
            str(work / "naive"),
        ],
        "assistant": [str(CLI), "ingest", str(corpus), "--index", str(work / "assistant")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = BENCH / "cache" / f"cli-{args.passages}"
    corpus_path, _ = corpus_gen.write(work, args.passages, 1)
    cmds = commands(corpus_path, work)
    seconds: dict[str, list[float]] = {name: [] for name in cmds}
    for round_ in range(args.rounds):
        for name in list(cmds) if round_ % 2 == 0 else list(cmds)[::-1]:
            shutil.rmtree(work / name, ignore_errors=True)  # a fresh index every time
            wall, _, _ = run_timed(cmds[name])
            seconds[name].append(round(wall, 2))
            print(f"  round {round_ + 1}: {name} {wall:.2f} s", flush=True)
    best = {name: min(times) for name, times in seconds.items()}
    result = {
        "passages": args.passages,
        "seconds": seconds,
        "best_s": best,
        "ratio_vs_naive": round(best["naive"] / best["assistant"], 2),
        "cpu": cpu(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
