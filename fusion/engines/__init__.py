"""Engine registry: one line per engine, imported only when used."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from fusion.errors import Availability, EngineUnavailable, InvalidOptions
from fusion.options import ENGINE_CHOICES

if TYPE_CHECKING:
    from fusion.engines.base import Engine

_REGISTRY: dict[str, str] = {
    "classic": "fusion.engines.classic:ClassicEngine",
    "inswapper": "fusion.engines.inswapper:InswapperEngine",
    "modelscope": "fusion.engines.modelscope:ModelScopeEngine",
}
ENGINE_NAMES: tuple[str, ...] = tuple(_REGISTRY)
AUTO = "auto"
# What "auto" picks: the first of these that can run here (classic always can).
AUTO_ORDER: tuple[str, ...] = ("inswapper", "modelscope", "classic")
assert (AUTO, *ENGINE_NAMES) == ENGINE_CHOICES, "fusion.options.Engine must list the registry's engines"


@cache
def _engine_instance(name: str) -> Engine:
    if name not in _REGISTRY:
        raise InvalidOptions(f"engine={name!r} is unknown: choose one of {', '.join(ENGINE_CHOICES)}")
    module_name, class_name = _REGISTRY[name].split(":")
    engine: Engine = getattr(importlib.import_module(module_name), class_name)()
    return engine


def engine_availability(name: str) -> Availability:
    if name == AUTO:
        return resolve_engine(AUTO)[0].availability()
    return _engine_instance(name).availability()


def get_engine(name: str) -> Engine:
    """The engine called `name`, ready to run; EngineUnavailable says why not and how to fix it."""
    engine = _engine_instance(name)
    status = engine.availability()
    if not status.available:
        raise EngineUnavailable(name, status.reason, status.remedy)
    return engine


def auto_engine() -> str:
    """The engine "auto" runs on this machine now."""
    return resolve_engine(AUTO)[0].name


def resolve_engine(name: str) -> tuple[Engine, tuple[str, ...]]:
    """The engine that runs for the option `name`, and notes for the result.

    "auto" takes the first engine of AUTO_ORDER that can run here and never fails for a missing or
    corrupt model: it falls back. A skipped engine is mentioned only when it was partly set up (a
    model present or corrupt), so a plain install gets no note on every request.
    """
    if name != AUTO:
        return get_engine(name), ()
    notes: list[str] = []
    for candidate in AUTO_ORDER:
        engine = _engine_instance(candidate)
        status = engine.availability()
        if status.available:
            return engine, tuple(notes)
        if status.partial:
            notes.append(f"The {candidate} engine was not used: {status.reason}. {status.remedy}")
    raise AssertionError("the classic engine is always available")  # pragma: no cover
