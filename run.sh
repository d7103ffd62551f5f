#!/usr/bin/env bash
# The main job: set up .venv, index the bundled article if needed, start the chat.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
.venv/bin/assistant ingest --if-stale
exec .venv/bin/assistant serve "$@"
