"""Refinements of CAM proposals, by name: ``REFINEMENTS`` (a plain dict name -> class).

Switched on alone or joined with ``+`` (``"superpixel+ridge"``); each is one module overriding
one stage of :class:`~model_zoo.cam.refinements.base.Refinement`. ``none`` is the plain CAM.
``guided`` is the guided filter written on OpenCV box filters (OpenCV's ``ximgproc`` is not
in the wheel); there is no dense CRF (``pydensecrf`` is unmaintained and not installed).
"""

from __future__ import annotations

from collections.abc import Sequence

from model_zoo.cam.refinements.advcam import AdvCam, AdvCamConfig
from model_zoo.cam.refinements.base import ImageContext, Refinement
from model_zoo.cam.refinements.guided import GuidedFilter
from model_zoo.cam.refinements.ridge import RidgeFilter
from model_zoo.cam.refinements.sam import SamPrompts
from model_zoo.cam.refinements.superpixel import SuperpixelSnap
from model_zoo.cam.refinements.tta import TtaSmoothing

REFINEMENTS: dict[str, type[Refinement]] = {
    "tta": TtaSmoothing,
    "advcam": AdvCam,
    "superpixel": SuperpixelSnap,
    "guided": GuidedFilter,
    "ridge": RidgeFilter,
    "sam": SamPrompts,
}


def parse_refine(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"superpixel+ridge"`` -> ``("superpixel", "ridge")``; ``"none"``/empty -> ``()``."""
    if spec is None:
        return ()
    parts = spec if not isinstance(spec, str) else spec.replace(",", "+").split("+")
    names = tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))
    unknown = [n for n in names if n != "none" and n not in REFINEMENTS]
    if unknown:
        raise ValueError(
            f"unknown refinement {'+'.join(unknown)!r}: choose from none, "
            f"{', '.join(REFINEMENTS)}, joined with '+' (e.g. 'superpixel+ridge')"
        )
    return tuple(n for n in names if n != "none")


__all__ = ["REFINEMENTS", "AdvCamConfig", "ImageContext", "Refinement", "parse_refine"]
