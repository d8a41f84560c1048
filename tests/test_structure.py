"""The code's shape: no import loops, front ends on the public API only, short modules, one gradio user.

Imports are read from the source (every `import`, also inside functions), so a lazy import that closes
a loop counts too.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("fusion", "webui")
# What a front end may import from the library: the package itself and these public modules.
# fusion.batch is the batch job's API (like fusion.models, a sub-API with a command-line part).
PUBLIC = {
    "fusion",
    "fusion.options",
    "fusion.errors",
    "fusion.models",
    "fusion.models.cli",
    "fusion.batch",
    "fusion.batch.cli",
}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `path` imports (a name imported from a package counts as the submodule
    when there is one, else as the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] in PACKAGES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found & set(modules)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_no_import_loops() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    loops: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for imported in sorted(graph[name]):
            if state.get(imported) == 1:
                loops.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


@pytest.mark.parametrize("front_end", ["webui", "fusion.cli", "fusion.__main__"])
def test_front_ends_use_only_the_public_api(front_end: str) -> None:
    graph = _graph()
    names = [n for n in graph if n == front_end or n.startswith(front_end + ".")]
    assert names
    reached = {imported for name in names for imported in graph[name] if imported.startswith("fusion")}
    allowed = PUBLIC | {"fusion.cli"}  # fusion.__main__ runs the CLI
    assert reached <= allowed, f"{front_end} reaches around the public API: {sorted(reached - allowed)}"


def test_public_api_names_resolve() -> None:
    import fusion

    missing = [name for name in fusion.__all__ if not hasattr(fusion, name)]
    assert not missing


def test_modules_stay_short() -> None:
    long = {
        name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_only_the_web_ui_imports_gradio() -> None:
    for name, path in _modules().items():
        if name.startswith("fusion"):
            tree = ast.parse(path.read_text())
            imported = {
                alias.name.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
            }
            assert "gradio" not in imported, name


def test_fuse_api_parameters_are_options_bound_by_name() -> None:
    """Every /fuse parameter but the photos and the output format is a FusionOptions control, so the
    page, the API and the CLI (made from the same CONTROLS table) cannot drift apart."""
    pytest.importorskip("gradio")
    from fusion.options import CONTROLS
    from webui.handlers import FUSE_OPTION_FIELDS, FUSE_PARAMETERS, Handlers

    controls = {control.name for control in CONTROLS}
    assert set(FUSE_PARAMETERS) - FUSE_OPTION_FIELDS == {"source", "target", "output_format"}
    assert controls >= FUSE_OPTION_FIELDS
    defaults = inspect.signature(Handlers.fuse).parameters
    from fusion import FusionOptions

    for name in FUSE_OPTION_FIELDS:  # the API's defaults are the library's
        assert FusionOptions.from_values({name: defaults[name].default}) == FusionOptions(), name
