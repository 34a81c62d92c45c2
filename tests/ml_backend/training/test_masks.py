"""Submitted brush masks -> segmentation samples; bad masks are reported per task."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ml_backend.controls.brush import encode_mask
from ml_backend.training.masks import sample_from_annotation

IMAGE = Image.new("RGB", (40, 30))


def _region(mask, label="Crack", width=40, height=30, rle=None, name="mask"):
    return {
        "type": "brushlabels",
        "from_name": name,
        "original_width": width,
        "original_height": height,
        "value": {"format": "rle", "rle": rle or encode_mask(mask), "brushlabels": [label]},
    }


def test_regions_of_a_label_are_united():
    a = np.zeros((30, 40), bool)
    a[2:5, 2:10] = True
    b = np.zeros((30, 40), bool)
    b[20:25, 30:35] = True
    sample, problems = sample_from_annotation(
        5, IMAGE, [_region(a), _region(b), _region(b, "Rust")], "mask", ["Crack", "Rust"]
    )
    assert problems == [] and sample.key == "5"
    assert (sample.masks["Crack"] == (a | b)).all() and (sample.masks["Rust"] == b).all()


def test_bad_masks_are_reported_and_left_out():
    good = np.zeros((30, 40), bool)
    good[1:3, 1:3] = True
    items = [
        _region(good, width=80, height=60),  # another size than the image
        _region(np.zeros((30, 40), bool)),  # empty
        _region(good, rle=[1, 2, 3]),  # garbage RLE
        _region(good, label="Unknown"),
        _region(good, name="other_tag"),  # another control: ignored silently
    ]
    sample, problems = sample_from_annotation(9, IMAGE, items, "mask", ["Crack"])
    assert sample is None
    assert len(problems) == 4
    text = " ".join(problems)
    assert "80x60" in text and "empty mask" in text and "does not decode" in text
    assert "Unknown" in text
