"""Tests of model_zoo.data.dataset: reading the images/<class>/ layout."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_zoo.data.dataset import (
    DEFECT_CLASSES,
    Dataset,
    DatasetError,
    Sample,
    load_dataset,
    open_image,
    open_mask,
    sort_classes,
)
from model_zoo.data.synth import generate_dataset


def _write(path: Path, array: np.ndarray, **save_kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save_kw)
    return path


def _rgb(seed: int = 0, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _make(root: Path, counts: dict[str, int], ext: str = ".png") -> Path:
    for label, n in counts.items():
        for i in range(n):
            _write(root / "images" / label / f"{label}_{i:03d}{ext}", _rgb(i))
    return root


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "synth"
    generate_dataset(root, 20, size=32, seed=0, progress=False)
    return root


def test_load_synth_output(synth_root):
    ds = load_dataset(synth_root)
    assert isinstance(ds, Dataset)
    assert len(ds) == 20 and ds.skipped == 0
    assert ds.classes == list(DEFECT_CLASSES)
    assert ds.root == synth_root
    for s in ds.samples:
        assert isinstance(s, Sample)
        assert s.image_path.parent.name == s.label
        assert s.mask_path is not None and s.mask_path.stem == s.image_path.stem
        assert s.foreground_path is None
    assert ds.class_counts()["crack"] == 3 and sum(ds.class_counts().values()) == 20


def test_load_scenes_finds_foreground(tmp_path):
    generate_dataset(tmp_path / "sc", 3, classes="rust", size=32, scenes=True, progress=False)
    ds = load_dataset(tmp_path / "sc")
    assert all(s.foreground_path is not None and s.foreground_path.is_file() for s in ds)


def test_sample_is_frozen():
    s = Sample(Path("a.png"), "crack", None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.label = "rust"  # type: ignore[misc]


def test_class_order_known_first_then_alphabetical(tmp_path):
    _make(tmp_path, {"zebra": 1, "rust": 1, "apple": 1, "crack": 1})
    assert load_dataset(tmp_path).classes == ["crack", "rust", "apple", "zebra"]
    assert sort_classes({"no_defect", "b", "a", "net_crack"}) == [
        "net_crack",
        "no_defect",
        "a",
        "b",
    ]


def test_extensions_case_insensitive_and_masks_optional(tmp_path):
    img = _rgb()
    _write(tmp_path / "images" / "crack" / "a.PNG", img)
    _write(tmp_path / "images" / "crack" / "b.JPG", img, format="JPEG")
    _write(tmp_path / "images" / "crack" / "c.jpeg", img, format="JPEG")
    _write(tmp_path / "images" / "rust" / "d.bmp", img)
    _write(tmp_path / "images" / "rust" / "e.TIF", img)
    _write(tmp_path / "images" / "rust" / "f.tiff", img)
    _write(tmp_path / "images" / "rust" / "g.webp", img, format="WEBP")
    _write(tmp_path / "images" / "rust" / "sub" / "h.png", img)
    mask = np.zeros((12, 12), np.uint8)
    mask[2:5] = 255
    _write(tmp_path / "masks" / "crack" / "b.png", mask)  # matched by stem, other extension
    _write(tmp_path / "masks" / "rust" / "sub" / "h.png", mask)
    ds = load_dataset(tmp_path)
    assert len(ds) == 8 and ds.skipped == 0
    by_name = {s.image_path.name: s for s in ds}
    assert by_name["b.JPG"].mask_path == tmp_path / "masks" / "crack" / "b.png"
    assert by_name["h.png"].mask_path == tmp_path / "masks" / "rust" / "sub" / "h.png"
    assert by_name["a.PNG"].mask_path is None


def test_skips_unreadable_and_non_images(tmp_path, caplog):
    _make(tmp_path, {"crack": 2})
    (tmp_path / "images" / "crack" / "notes.txt").write_text("hello")
    (tmp_path / "images" / "crack" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = (tmp_path / "images" / "crack" / "crack_000.png").read_bytes()
    (tmp_path / "images" / "crack" / "truncated.png").write_bytes(good[: len(good) // 2])
    jpeg = _write(tmp_path / "j.jpg", _rgb(size=64), format="JPEG").read_bytes()
    (tmp_path / "images" / "crack" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "images" / "crack" / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored
    (tmp_path / "images" / "stray.png").write_bytes(good)  # not in a class folder
    with caplog.at_level(logging.WARNING, logger="model_zoo.data.dataset"):
        ds = load_dataset(tmp_path)
    assert len(ds) == 2
    assert ds.skipped == 5
    assert {p.name for p in ds.skipped_files} == {
        "notes.txt",
        "broken.png",
        "truncated.png",
        "truncated.jpg",
        "stray.png",
    }
    assert "skipped 5" in caplog.text


def test_unreadable_mask_is_ignored(tmp_path):
    _make(tmp_path, {"crack": 1})
    bad = tmp_path / "masks" / "crack" / "crack_000.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a png")
    ds = load_dataset(tmp_path)
    assert len(ds) == 1 and ds.samples[0].mask_path is None


def test_errors_say_what_layout_is_expected(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*images/<class>/"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    _write(tmp_path / "flat" / "x.png", _rgb())
    with pytest.raises(DatasetError, match="no images/ folder.*expected layout"):
        load_dataset(tmp_path / "flat")
    (tmp_path / "empty" / "images" / "crack").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images found.*expected layout"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "junk" / "images" / "crack").mkdir(parents=True)
    (tmp_path / "junk" / "images" / "crack" / "a.png").write_text("nope")
    with pytest.raises(DatasetError, match="1 file"):
        load_dataset(tmp_path / "junk")
    assert issubclass(DatasetError, ValueError)


def test_split_is_stratified_and_deterministic(tmp_path):
    _make(tmp_path, {"crack": 10, "rust": 3, "algae": 2, "efflorescence": 1})
    ds = load_dataset(tmp_path)
    train, test = ds.split(0.3, seed=1)
    again = ds.split(0.3, seed=1)
    assert [s.image_path for s in again[0]] == [s.image_path for s in train]
    assert train.classes == test.classes == ds.classes
    assert len(train) + len(test) == len(ds)
    assert not {s.image_path for s in train} & {s.image_path for s in test}
    tr, te = train.class_counts(), test.class_counts()
    assert te == {"crack": 3, "rust": 1, "efflorescence": 0, "algae": 1}
    assert tr == {"crack": 7, "rust": 2, "efflorescence": 1, "algae": 1}
    other = ds.split(0.3, seed=2)[1]
    assert {s.image_path for s in other} != {s.image_path for s in test}
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="test_fraction"):
            ds.split(bad)


def test_subset_per_class(tmp_path):
    _make(tmp_path, {"crack": 6, "rust": 2})
    ds = load_dataset(tmp_path)
    sub = ds.subset_per_class(3, seed=0)
    assert sub.class_counts() == {"crack": 3, "rust": 2}
    assert [s.image_path for s in sub] == [s.image_path for s in ds.subset_per_class(3, seed=0)]
    assert sub.classes == ds.classes
    with pytest.raises(ValueError):
        ds.subset_per_class(0)


def test_open_image_converts_to_rgb(tmp_path):
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    grey16 = (np.arange(80, dtype=np.uint16).reshape(8, 10) * 800).astype(np.uint16)
    for name, arr in (("a.png", rgba), ("b.png", rgba[..., 0]), ("c.tif", grey16)):
        im = open_image(_write(tmp_path / name, arr))
        assert im.mode == "RGB" and im.size == (10, 8)
    stretched = np.asarray(open_image(tmp_path / "c.tif"))
    assert stretched.min() == 0 and stretched.max() == 255


def test_open_mask_variants(tmp_path):
    m = np.zeros((6, 8), np.uint8)
    m[1:3, 2:5] = 255
    expect = m > 0
    assert np.array_equal(open_mask(_write(tmp_path / "l.png", m)), expect)
    assert np.array_equal(open_mask(_write(tmp_path / "01.png", (m > 0).astype(np.uint8))), expect)
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[expect] = (255, 0, 0)
    assert np.array_equal(open_mask(_write(tmp_path / "rgb.png", rgb)), expect)
    resized = open_mask(tmp_path / "l.png", size=(16, 12))
    assert resized.shape == (12, 16) and resized.dtype == bool
    assert resized.sum() == 4 * expect.sum()
    noisy = np.where(expect, 250, 3).astype(np.uint8)  # JPEG-like noise stays out
    assert np.array_equal(open_mask(_write(tmp_path / "n.jpg", noisy, quality=100)), expect)
