"""Engine registry: one line per engine, imported only when used."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from fusion.errors import EngineUnavailable, InvalidOptions

if TYPE_CHECKING:
    from fusion.engines.base import Availability, Engine

_REGISTRY: dict[str, str] = {
    "classic": "fusion.engines.classic:ClassicEngine",
    "inswapper": "fusion.engines.inswapper:InswapperEngine",
    "modelscope": "fusion.engines.modelscope:ModelScopeEngine",
}
ENGINE_NAMES: tuple[str, ...] = tuple(_REGISTRY)


@cache
def _engine_instance(name: str) -> Engine:
    if name not in _REGISTRY:
        raise InvalidOptions(f"engine={name!r} is unknown: choose one of {', '.join(ENGINE_NAMES)}")
    module_name, class_name = _REGISTRY[name].split(":")
    engine: Engine = getattr(importlib.import_module(module_name), class_name)()
    return engine


def engine_availability(name: str) -> Availability:
    return _engine_instance(name).availability()


def get_engine(name: str) -> Engine:
    """The engine called `name`, ready to run; EngineUnavailable says why not and how to fix it."""
    engine = _engine_instance(name)
    status = engine.availability()
    if not status.available:
        raise EngineUnavailable(name, status.reason, status.remedy)
    return engine
