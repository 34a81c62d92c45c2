"""The fallback's per-image work: superpixels (Felzenszwalb's graph segmentation) with their mean colours and adjacency, and a
dark-ridge response (Sato's tubeness filter) for cracks. No weights; scikit-image only.

Computed once per image at a working size (``side`` px on the longer side) and cached; a click
then costs a graph walk over superpixels or a flood fill over the ridge map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.color import rgb2gray, rgb2lab
from skimage.filters import sato
from skimage.segmentation import felzenszwalb

from model_zoo.interactive.source import working_image

RIDGE_SIGMAS = (1.0, 2.0)


@dataclass
class ImageFeatures:
    superpixels: np.ndarray  # int32 (h, w), ids 0..n-1
    colours: np.ndarray  # float32 (n, 3), mean CIELAB colour per superpixel
    sizes: np.ndarray  # int64 (n,), pixels per superpixel
    indptr: np.ndarray  # int64 (n + 1,), CSR adjacency of superpixels
    indices: np.ndarray  # int32, neighbours of superpixel i: indices[indptr[i]:indptr[i+1]]
    ridge: np.ndarray  # float32 (h, w), dark-ridge response
    ridge_level: float  # the response's median over the image (its noise level)
    sx: float
    sy: float

    @property
    def nbytes(self) -> int:
        arrays = (self.superpixels, self.colours, self.sizes, self.indptr, self.indices)
        return int(sum(a.nbytes for a in arrays) + self.ridge.nbytes)

    def neighbours(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]


def compute_features(image: Image.Image, side: int = 512, scale: float = 300) -> ImageFeatures:
    """Felzenszwalb segments (``scale``: larger, larger segments; the smallest is 1/2600 of
    the image) and the ridge map, at ``side`` px on the longer side."""
    rgb, sx, sy = working_image(image, side)
    h, w = rgb.shape[:2]
    min_size = max(10, (h * w) // 2600)
    labels = felzenszwalb(rgb, scale=scale, sigma=0.8, min_size=min_size).astype(np.int32)
    n = int(labels.max()) + 1
    lab = rgb2lab(rgb).reshape(-1, 3)
    sizes = np.bincount(labels.ravel(), minlength=n)
    counts = np.maximum(sizes, 1).astype(np.float64)
    colours = np.stack(
        [np.bincount(labels.ravel(), lab[:, c], minlength=n) / counts for c in range(3)], axis=1
    )
    indptr, indices = _adjacency(labels, n)
    ridge = sato(rgb2gray(rgb), sigmas=RIDGE_SIGMAS, black_ridges=True).astype(np.float32)
    return ImageFeatures(
        labels,
        colours.astype(np.float32),
        sizes,
        indptr,
        indices,
        ridge,
        float(np.median(ridge)),
        sx,
        sy,
    )


def _adjacency(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency of the label image (4-connectivity)."""
    pairs = np.concatenate(
        [
            np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], axis=1),
            np.stack([labels[:-1, :].ravel(), labels[1:, :].ravel()], axis=1),
        ]
    )
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, pairs[:, 0] + 1, 1)
    return np.cumsum(indptr), pairs[:, 1].astype(np.int32)
