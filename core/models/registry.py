"""The one list of detectors the app, the worker and the CLI know about."""
from __future__ import annotations

from .aae_itsr import AaeItsr
from .autoencoder import Autoencoder
from .base import Detector
from .berg_gan import BergGan
from .distorter_ae import DistorterAe
from .ganomaly import Ganomaly
from .iforest import IsolationForestPixels
from .knn import KnnDistance
from .skip_ganomaly import SkipGanomaly

# The five papers' methods and the baseline autoencoder, then the pixel-space bars they must clear.
DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls for cls in (Autoencoder, Ganomaly, AaeItsr, DistorterAe, SkipGanomaly, BergGan, IsolationForestPixels, KnnDistance)
}


def get(name: str) -> type[Detector]:
    """The detector class called `name`; ValueError listing the known ones otherwise."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}") from None


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
            "presets": {k: dict(v) for k, v in cls.PRESETS.items()},
            "params": [
                {"name": p.name, "default": p.default, "help": p.help, "kind": p.kind, "low": p.low, "high": p.high, "choices": list(p.choices)}
                for p in cls.PARAMS
            ],
        }
        for cls in DETECTORS.values()
    ]
