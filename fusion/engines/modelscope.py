"""ModelScope face fusion engine: the `damo/cv_unet-image-face-fusion_damo` UNet behind an adapter.

What the real pipeline (modelscope 1.40) accepts and returns, checked against its code by
tests/test_reference_modelscope.py:
- inputs `{"template": ..., "user": ...}` as RGB PIL images. Not numpy arrays: `LoadImage` flips an
  array's channels with a negative-stride view and `collate_fn`'s `torch.from_numpy` raises on it;
- `output_img` is BGR uint8 the size of the template when it fused a face, and the template itself,
  unchanged and RGB, when its own detector found no face in either photo (then we raise EngineFailed).
It has no blend parameter: the blend ratio is a feathered alpha against the target. modelscope (and
TensorFlow, torchvision, scipy) is imported only when the engine runs, the device follows
`FusionOptions.device`, and a local model folder is used by absolute path, which modelscope opens
without asking its hub; the folder is looked for first so an offline machine gets an answer at once.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion.blend import composite
from fusion.device import modelscope_device
from fusion.engines.base import FacePatch, FaceRequest
from fusion.errors import Availability, EngineFailed, EngineUnavailable
from fusion.models import store

MODEL_ID = "damo/cv_unet-image-face-fusion_damo"
MODEL_NAME = "modelscope_face_fusion"
CROP_MARGIN = 0.6  # the UNet detects the face itself: give it the whole head and some context
PACKAGES_REMEDY = (
    'Install them with: pip install "face-fusion[modelscope]" (and a torchvision built for your torch)'
)
# Import names the real pipeline needs: modelscope's own imports (addict, datasets, simplejson,
# sortedcontainers), its BFM loader (scipy), its face detector (tensorflow), its transforms (torchvision).
REQUIRED_PACKAGES = (
    "modelscope",
    "addict",
    "datasets",
    "simplejson",
    "sortedcontainers",
    "scipy",
    "tensorflow",
    "torchvision",
)

FusionPipeline = Callable[[dict[str, Any]], dict[str, Any]]


def _missing_packages() -> list[str]:
    return [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]


def local_model_dir() -> Path | None:
    """The model folder (absolute) if it is on this machine: our models folder, then ModelScope's cache."""
    ours = store.status(MODEL_NAME)
    if ours.state == "present":
        return ours.path.resolve()
    hub = Path(os.environ.get("MODELSCOPE_CACHE") or Path.home() / ".cache" / "modelscope" / "hub")
    for candidate in (hub / MODEL_ID, hub / "models" / MODEL_ID):
        if (candidate / "configuration.json").is_file():
            return candidate.resolve()
    return None


class ModelScopeEngine:
    name = "modelscope"
    upscales_itself = True  # its output is the UNet's, at the template crop's size

    def __init__(self, pipeline: FusionPipeline | None = None) -> None:
        """`pipeline`: an already built ModelScope pipeline (or a stand-in); built lazily otherwise."""
        self._given = pipeline
        self._pipelines: dict[str, FusionPipeline] = {}
        # One lock for building and calling: a ModelScope pipeline object is not made for concurrent
        # calls, and the web app may run several fusions at once.
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        if self._given is not None:
            return Availability(True)
        missing = _missing_packages()
        if missing:
            partial = local_model_dir() is not None
            return Availability(False, f"{', '.join(missing)} not installed", PACKAGES_REMEDY, partial)
        if local_model_dir() is None:
            info = store.model_info(MODEL_NAME)
            return Availability(
                False, f"the model {MODEL_ID} is not on this machine", store.fix_hint(info), partial=True
            )
        return Availability(True)

    def _pipeline(self, device: str) -> FusionPipeline:
        """The pipeline for ModelScope's device name; call with the lock held."""
        if self._given is not None:
            return self._given
        if device not in self._pipelines:
            folder = local_model_dir()
            if folder is None:
                status = self.availability()
                raise EngineUnavailable(self.name, status.reason, status.remedy)
            from modelscope.pipelines import pipeline  # type: ignore[import-not-found]
            from modelscope.utils.constant import Tasks  # type: ignore[import-not-found]

            self._pipelines[device] = pipeline(Tasks.image_face_fusion, model=str(folder), device=device)
        return self._pipelines[device]

    def run(self, template: np.ndarray, user: np.ndarray, device: str = "auto") -> np.ndarray | None:
        """The UNet's fusion of `user`'s face into `template` (both RGB uint8), as RGB uint8 the size of
        the template; None when its own detector found no face."""
        from PIL import Image

        template = np.ascontiguousarray(template)
        inputs = {"template": Image.fromarray(template), "user": Image.fromarray(np.ascontiguousarray(user))}
        with self._lock:
            output = np.asarray(self._pipeline(modelscope_device(device))(inputs)["output_img"])
        if output.shape == template.shape and np.array_equal(output, template):
            return None  # the template handed back untouched (and in RGB): no face found
        return np.ascontiguousarray(output[:, :, ::-1])

    def fuse_face(self, request: FaceRequest) -> FacePatch:
        source, source_face, target, target_face, options = request.unpack()
        region = request.region(CROP_MARGIN)
        mask = region.mask(options.mask_size)
        crop = region.crop
        # The user face: the source's face region with the same margin.
        sx0, sy0, sx1, sy1 = source_face.box
        pad = round(CROP_MARGIN * source_face.size)
        user = source[max(0, sy0 - pad) : sy1 + pad, max(0, sx0 - pad) : sx1 + pad]
        fused = self.run(crop, user, options.device)
        if fused is None:
            raise EngineFailed(
                self.name,
                "its own face detector found no face in the source or the target",
                "Use a more frontal, well-lit face, or the inswapper or classic engine",
            )
        if fused.shape[:2] != crop.shape[:2]:
            fused = cv2.resize(fused, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LANCZOS4)
        alpha = mask * options.blend_ratio
        return FacePatch(composite(crop, fused, alpha), region.origin, alpha, region.points)
