"""MediaPipe's model files and the LiteRT interpreter that runs them.

The `.tflite` files ship inside the `mediapipe==0.10.21` wheel, installed without its dependencies
(its own Python code wants numpy<2, jax and a second OpenCV): only the files are used, found without
importing mediapipe, and run on LiteRT (`ai-edge-litert`, the TFLite interpreter).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from fusion.errors import Availability, EngineUnavailable

INSTALL_HINT = 'Install them with: pip install ai-edge-litert && pip install --no-deps "mediapipe==0.10.21"'


def model_file(relative: str) -> Path:
    """A model file inside the installed mediapipe package, found without importing mediapipe."""
    spec = importlib.util.find_spec("mediapipe")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "modules" / relative
        if candidate.is_file():
            return candidate
    raise EngineUnavailable(
        "mediapipe", f"the MediaPipe model file {relative} is not installed", INSTALL_HINT
    )


def availability(files: tuple[str, ...]) -> Availability:
    """Whether the runtime and these model files are installed (nothing is loaded)."""
    try:
        for relative in files:
            model_file(relative)
    except EngineUnavailable as missing:
        return Availability(False, missing.reason, missing.remedy)
    if importlib.util.find_spec("ai_edge_litert") is None:
        return Availability(False, "the LiteRT runtime (ai-edge-litert) is not installed", INSTALL_HINT)
    return Availability(True)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (native code's stderr) for the duration; Python's own is flushed first."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Model:
    """One LiteRT interpreter; its tensors are shared state, so calls are serialised."""

    def __init__(self, path: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise EngineUnavailable(
                "mediapipe", "the LiteRT runtime is not installed", INSTALL_HINT
            ) from error
        with _quiet_stderr():  # LiteRT prints "INFO: Created ... XNNPACK delegate" on its own stderr
            self._interpreter: Any = Interpreter(model_path=str(path), num_threads=1)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # Largest first (boxes / mesh / landmarks, then the scores), ties by name: the face models
        # have two outputs, the hand landmark model four (points, world points, presence, handedness).
        outputs.sort(key=lambda d: (-int(np.prod(d["shape"])), d["name"]))
        self._outputs = [d["index"] for d in outputs]
        self._lock = threading.Lock()

    def __call__(self, tensor: np.ndarray) -> tuple[np.ndarray, ...]:
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor[None].astype(np.float32))
            self._interpreter.invoke()
            return tuple(self._interpreter.get_tensor(index).copy() for index in self._outputs)


@cache
def model(relative: str) -> Model:
    """The model at this path under mediapipe/modules, loaded once per process."""
    return Model(model_file(relative))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The models' raw scores as probabilities (clipped first: float32 exp overflows past 88)."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0))))
