#!/usr/bin/env bash
# Create (or update) .venv with daraz-llama and everything it needs, from this checkout's own files.
# Usage: bash scripts/setup-venv.sh [extras]   (default extras: dev = all + test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch first: anything else would pull gigabytes of CUDA wheels.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[${extras}]"
echo "ready: $(.venv/bin/python -c 'import daraz_llama; print("daraz-llama", daraz_llama.__version__)')"
