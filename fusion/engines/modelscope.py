"""ModelScope face fusion engine: the `damo/cv_unet-image-face-fusion_damo` UNet behind an adapter.

The pipeline object is called as `pipeline(dict(template=target_bgr, user=source_bgr))` and returns
{"output_img": bgr} the size of the template. It has no blend parameter: the adapter feeds it the
target's face region, applies the blend ratio as a feathered alpha against the target, and hands a
FacePatch to the shared retouch/output stages. modelscope (and TensorFlow, torchvision) is imported
only when the engine runs; the weights are looked for locally first so an offline machine gets an
answer at once instead of the hub's 30 seconds of retries.
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

from fusion.blend import composite, face_mask
from fusion.engines.base import Availability, FacePatch
from fusion.errors import EngineUnavailable
from fusion.faces import Face
from fusion.geometry import face_crop_box, with_forehead
from fusion.models import store
from fusion.options import FusionOptions

MODEL_ID = "damo/cv_unet-image-face-fusion_damo"
MODEL_NAME = "modelscope_face_fusion"
CROP_MARGIN = 0.6  # the UNet detects the face itself: give it the whole head and some context
PACKAGES_REMEDY = "Install them with: pip install modelscope tensorflow torchvision"

FusionPipeline = Callable[[dict[str, Any]], dict[str, Any]]


def _missing_packages() -> list[str]:
    return [
        name for name in ("modelscope", "tensorflow", "torchvision") if importlib.util.find_spec(name) is None
    ]


def local_model_dir() -> Path | None:
    """The model folder if it is on this machine: our models folder, then ModelScope's own cache."""
    ours = store.status(MODEL_NAME)
    if ours.state == "present":
        return ours.path
    hub = Path(os.environ.get("MODELSCOPE_CACHE") or Path.home() / ".cache" / "modelscope" / "hub")
    for candidate in (hub / MODEL_ID, hub / "models" / MODEL_ID):
        if (candidate / "configuration.json").is_file():
            return candidate
    return None


class ModelScopeEngine:
    name = "modelscope"
    upscales_itself = True  # its output is the UNet's, at the template crop's size

    def __init__(self, pipeline: FusionPipeline | None = None) -> None:
        """`pipeline`: an already built ModelScope pipeline (or a stand-in); built lazily otherwise."""
        self._pipeline = pipeline
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        if self._pipeline is not None:
            return Availability(True)
        missing = _missing_packages()
        if missing:
            return Availability(False, f"{', '.join(missing)} not installed", PACKAGES_REMEDY)
        if local_model_dir() is None:
            info = store.model_info(MODEL_NAME)
            return Availability(False, f"the model {MODEL_ID} is not on this machine", store.fix_hint(info))
        return Availability(True)

    def _get_pipeline(self) -> FusionPipeline:
        with self._lock:
            if self._pipeline is None:
                folder = local_model_dir()
                if folder is None:
                    status = self.availability()
                    raise EngineUnavailable(self.name, status.reason, status.remedy)
                os.environ.setdefault("MODELSCOPE_OFFLINE", "1")  # a local folder needs no hub
                from modelscope.pipelines import pipeline  # type: ignore[import-not-found]
                from modelscope.utils.constant import Tasks  # type: ignore[import-not-found]

                self._pipeline = pipeline(Tasks.image_face_fusion, model=str(folder))
            return self._pipeline

    def fuse_face(
        self,
        source: np.ndarray,
        source_face: Face,
        target: np.ndarray,
        target_face: Face,
        options: FusionOptions,
    ) -> FacePatch:
        target_points = with_forehead(target_face.landmarks)
        face_size = target_face.size
        height, width = target.shape[:2]
        x0, y0, x1, y1 = face_crop_box(target_points, CROP_MARGIN * face_size, width, height)
        crop = target[y0:y1, x0:x1]
        local = target_points - np.array([x0, y0], np.float32)
        mask = face_mask(local, x1 - x0, y1 - y0, face_size, options.mask_size)
        if options.blend_ratio == 0.0:
            return FacePatch(crop.copy(), (x0, y0), mask, target_points)
        # The user face: the source's face region with the same margin (the UNet works in BGR).
        sx0, sy0, sx1, sy1 = source_face.box
        pad = round(CROP_MARGIN * source_face.size)
        user = source[max(0, sy0 - pad) : sy1 + pad, max(0, sx0 - pad) : sx1 + pad]
        result = self._get_pipeline()(
            {
                "template": np.ascontiguousarray(crop[:, :, ::-1]),
                "user": np.ascontiguousarray(user[:, :, ::-1]),
            }
        )
        fused = np.asarray(result["output_img"])[:, :, ::-1]
        if fused.shape[:2] != crop.shape[:2]:
            fused = cv2.resize(fused, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LANCZOS4)
        alpha = mask * options.blend_ratio
        return FacePatch(composite(crop, np.ascontiguousarray(fused), alpha), (x0, y0), alpha, target_points)
