"""Sample photos that ship inside installed packages (used by tests, examples and the demo).

Nothing here is committed to this repository: the files are found where pip put them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fusion.errors import FusionError

# package -> file inside it, and what the photo holds
_SAMPLES = {
    "astronaut": ("skimage", "data/astronaut.png"),  # 512x512, one face (Eileen Collins, NASA)
    "group": ("insightface", "data/images/t1.jpg"),  # 1280x886, six faces
}


def sample_path(name: str) -> Path:
    """Path to a package-shipped sample photo; raises FusionError naming the package to install."""
    package, relative = _SAMPLES[name]
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    hint = "pip install scikit-image" if package == "skimage" else "pip install --no-deps insightface"
    raise FusionError(f"Sample photo '{name}' needs the {package} package: {hint}")
