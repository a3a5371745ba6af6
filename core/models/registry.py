"""The one list of detectors the app, the worker and the CLI know about."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Detector

# The five papers' methods and the baseline autoencoder, then the pixel-space bars they must clear.
# Name → "module:Class". Classes are imported on first use, so pages that only list runs or
# data never pay for importing torch and scikit-learn (seconds on a cold two-core machine).
_WHERE = {
    "autoencoder": "autoencoder:Autoencoder",
    "ganomaly": "ganomaly:Ganomaly",
    "aae_itsr": "aae_itsr:AaeItsr",
    "distorter_ae": "distorter_ae:DistorterAe",
    "skip_ganomaly": "skip_ganomaly:SkipGanomaly",
    "berg_gan": "berg_gan:BergGan",
    "iforest": "iforest:IsolationForestPixels",
    "knn": "knn:KnnDistance",
}
NAMES: tuple[str, ...] = tuple(_WHERE)


def get(name: str) -> type[Detector]:
    """The detector class called `name`; ValueError listing the known ones otherwise."""
    if name not in _WHERE:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(NAMES)}")
    module, cls_name = _WHERE[name].split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls_name)


def classes() -> dict[str, type[Detector]]:
    """Every detector class by name, in registry order (imports them all)."""
    return {name: get(name) for name in NAMES}


def describe() -> list[dict]:
    """JSON-serialisable description of every detector, its hyperparameters and presets."""
    return [
        {
            "name": cls.name,
            "title": cls.title,
            "summary": cls.summary,
            "has_reconstruction": cls.has_reconstruction,
            "supports_weights": cls.supports_weights,
            "deep": cls.deep,
            "one_normal_class": cls.one_normal_class,
            "presets": {k: dict(v) for k, v in cls.PRESETS.items()},
            "params": [
                {"name": p.name, "default": p.default, "help": p.help, "kind": p.kind, "low": p.low, "high": p.high, "choices": list(p.choices)}
                for p in cls.PARAMS
            ],
        }
        for cls in classes().values()
    ]
