#!/usr/bin/env bash
# The device check of a GPU machine (benchmarks/gpu_check.py), ready to run there: a CUDA build
# of torch preinstalled, no network. Ends stdout with one JSON line and exits non-zero unless
# every check ran on CUDA and passed.
#
# Once, where pip reaches PyPI:   scripts/gpu-check.sh --fetch-wheels
#   puts into .whl/ the pure-Python dependencies that the CUDA image lacks (keep .whl/ out of
#   git: echo /.whl/ >> .git/info/exclude), to travel with the working tree.
# On the GPU machine:             scripts/gpu-check.sh [--steps N]
#   installs .whl/ into a folder of its own when those modules are missing, then runs the check
#   under a time limit (GPU_CHECK_TIMEOUT seconds, 300 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=(attrs==26.1.0 cattrs==26.2.1 tomli-w==1.2.0 soxr==1.1.0)
SITE=${GPU_CHECK_SITE:-/tmp/autovoice-gpu-check}

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  exec "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi

missing=$("$PYTHON" -c '
import importlib.util
print(" ".join(m for m in ("cattrs", "tomli_w", "soxr") if importlib.util.find_spec(m) is None))
')
if [[ -n "$missing" ]]; then
  if ! compgen -G ".whl/*.whl" >/dev/null; then
    echo "error: missing $missing, and no .whl/ to install them from: run" \
      "scripts/gpu-check.sh --fetch-wheels where pip reaches PyPI and carry .whl/" >&2
    exit 2
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH=".:plugins${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout "${GPU_CHECK_TIMEOUT:-300}" "$PYTHON" -m benchmarks.gpu_check "$@"
