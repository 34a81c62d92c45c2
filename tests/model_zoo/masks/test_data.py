"""Checks of a mask folder (each refusal names what is missing) and the split by photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model_zoo.data.dataset import load_dataset
from model_zoo.masks.data import MaskDataError, check_mask_dataset, grouped_split


def _write(root, label, name, size=(32, 32), mask_size=None, mask=True):
    (root / "images" / label).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 120, 120)).save(root / "images" / label / f"{name}.png")
    if mask:
        (root / "masks" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((mask_size or size)[::-1], np.uint8)).save(
            root / "masks" / label / f"{name}.png"
        )


def _folder(root, crack=6, clean=6, masks=True):
    for i in range(crack):
        _write(root, "crack", f"p{i // 2}_{i % 2}0", mask=masks)
    for i in range(clean):
        _write(root, "no_defect", f"q{i // 2}_{i % 2}1", mask=False)
    return root


def test_a_good_folder_names_its_defect_classes(tmp_path):
    assert check_mask_dataset(load_dataset(_folder(tmp_path))) == ["crack"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda r: _folder(r, clean=0), "one class only"),
        (lambda r: _folder(r, masks=False), "no defect class with masks"),
        (lambda r: _folder(r, crack=3), r"fewer than 5 images: crack \(3\)"),
        (lambda r: (_folder(r), _write(r, "rust", "r0"), _write(r, "rust", "r1")), "rust"),
    ],
)
def test_bad_folders_are_refused_with_what_is_missing(tmp_path, build, message):
    build(tmp_path)
    with pytest.raises(MaskDataError, match=message):
        check_mask_dataset(load_dataset(tmp_path))


def test_no_no_defect_class_is_refused(tmp_path):
    _folder(tmp_path, clean=0)
    for i in range(5):
        _write(tmp_path, "rust", f"r{i}")
    with pytest.raises(MaskDataError, match="no 'no_defect' class"):
        check_mask_dataset(load_dataset(tmp_path))


def test_masks_of_the_wrong_size_are_refused_with_an_example(tmp_path):
    _folder(tmp_path)
    _write(tmp_path, "crack", "odd_00", size=(32, 32), mask_size=(16, 32))
    with pytest.raises(MaskDataError, match=r"1 mask\(s\).*odd_00.png is 16x32, its image 32x32"):
        check_mask_dataset(load_dataset(tmp_path))


def test_the_split_keeps_the_tiles_of_a_photo_together_and_is_seeded(tmp_path):
    _folder(tmp_path, crack=20, clean=20)
    dataset = load_dataset(tmp_path)
    split = grouped_split(dataset, 0.3, seed=3)
    assert split.grouped
    photo = lambda s: s.image_path.stem.rsplit("_", 1)[0]  # noqa: E731
    assert not {photo(s) for s in split.train} & {photo(s) for s in split.test}
    assert len(split.train) + len(split.test) == len(dataset)
    assert {s.label for s in split.test} == {"crack", "no_defect"}
    again = grouped_split(dataset, 0.3, seed=3)
    assert [s.image_path for s in again.test] == [s.image_path for s in split.test]


def test_names_without_tile_suffixes_split_per_image(tmp_path):
    for i in range(6):
        _write(tmp_path, "crack", f"img{i}")
        _write(tmp_path, "no_defect", f"ok{i}", mask=False)
    split = grouped_split(load_dataset(tmp_path), 0.3, seed=0)
    assert not split.grouped and len(split.test) == 4
