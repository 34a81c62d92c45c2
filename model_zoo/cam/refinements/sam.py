"""``sam``: Segment Anything prompted with each proposal's box and peak point
(:mod:`model_zoo.sam`; the backend loads it from ``SAM_CHECKPOINT``)."""

from __future__ import annotations

from model_zoo.cam.refinements.base import Refinement


class SamPrompts(Refinement):
    name = "sam"
    summary = "Segment Anything prompted with each proposal's box and peak (needs SAM_CHECKPOINT)"
    needs_sam = True

    def refine_proposals(self, image, groups, sam):
        if sam is None:
            raise ValueError("the 'sam' refinement needs a SAM model: set SAM_CHECKPOINT")
        if any(groups):
            sam.refine(image, groups)
