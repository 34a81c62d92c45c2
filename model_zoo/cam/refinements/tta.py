"""``tta``: test-time augmentation smoothing, with grad-cam's default transforms (``ttach``:
horizontal flip x brightness 0.9 / 1 / 1.1); the maps of all views are averaged. Each view is
one more forward + partial backward of the engine (the first view is the shared pass)."""

from __future__ import annotations

import numpy as np
import torch
import ttach

from model_zoo.cam.engine import cams_for_pairs_locked, grad_mode
from model_zoo.cam.refinements.base import Refinement


class TtaSmoothing(Refinement):
    name = "tta"
    summary = "test-time augmentation smoothing (flip x brightness, grad-cam's transforms)"

    def refine_maps(self, classifier, pixel_values, pairs, maps, config):
        if not pairs:
            return maps
        transforms = ttach.Compose([ttach.HorizontalFlip(), ttach.Multiply(factors=[0.9, 1, 1.1])])
        rows = pixel_values[[i for i, _ in pairs]]
        classes = [c for _, c in pairs]
        total = np.zeros_like(maps)
        count = 0
        with grad_mode(classifier):
            for transform in transforms:
                augmented = transform.augment_image(rows)
                if torch.equal(augmented, rows):
                    views = maps  # the identity view is the shared pass
                else:
                    views = cams_for_pairs_locked(
                        classifier, augmented, classes, config.method, config.layers
                    )
                    views = transform.deaugment_mask(torch.from_numpy(views)[:, None])[:, 0]
                    views = np.asarray(views, dtype=np.float32)
                total += views
                count += 1
        return total / max(1, count)
