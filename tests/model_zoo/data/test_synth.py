"""Tests of model_zoo.data.synth: the synthetic concrete-inspection data generator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from model_zoo.commands import synth as synth_command
from model_zoo.commands.cli import main
from model_zoo.data.synth import (
    CLASS_TITLES,
    DEFECT_CLASSES,
    allocate_counts,
    generate_dataset,
    parse_classes,
    parse_imbalance,
    render_sample,
)

SIZE = 64


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


# -- classes and imbalance ---------------------------------------------------------------------


def test_class_constants():
    assert DEFECT_CLASSES == (
        "crack",
        "net_crack",
        "spalling",
        "exposed_rebar",
        "rust",
        "efflorescence",
        "algae",
        "no_defect",
    )
    assert list(CLASS_TITLES) == list(DEFECT_CLASSES)
    assert CLASS_TITLES["net_crack"] == "Net crack"
    assert CLASS_TITLES["exposed_rebar"] == "Exposed rebar"
    assert CLASS_TITLES["no_defect"] == "No defect"


def test_parse_classes():
    assert parse_classes(None) == list(DEFECT_CLASSES)
    assert parse_classes("rust, crack") == ["crack", "rust"]  # canonical order
    assert parse_classes(["no_defect", "algae"]) == ["algae", "no_defect"]
    with pytest.raises(ValueError, match="unknown class.*concrete"):
        parse_classes("crack,concrete")
    with pytest.raises(ValueError, match="twice"):
        parse_classes("crack,crack")
    with pytest.raises(ValueError, match="empty"):
        parse_classes(" , ")


def test_parse_imbalance_uniform():
    w = parse_imbalance("uniform", DEFECT_CLASSES)
    assert w == pytest.approx(dict.fromkeys(DEFECT_CLASSES, 1 / 8))
    assert parse_imbalance(None, ["crack", "rust"]) == {"crack": 0.5, "rust": 0.5}


def test_parse_imbalance_rare():
    w = parse_imbalance("rare:exposed_rebar,spalling=0.05", DEFECT_CLASSES)
    assert w["exposed_rebar"] == pytest.approx(0.025)
    assert w["spalling"] == pytest.approx(0.025)
    assert w["crack"] == pytest.approx(0.95 / 6)
    assert sum(w.values()) == pytest.approx(1.0)


def test_parse_imbalance_explicit_is_normalised():
    w = parse_imbalance("crack=3, no_defect=5", ["crack", "rust", "no_defect"])
    assert w == pytest.approx({"crack": 3 / 8, "rust": 0.0, "no_defect": 5 / 8})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rare:crack", "rare:CLASS"),
        ("rare:=0.1", "no class"),
        ("rare:crack=1.5", "between 0 and 1"),
        ("rare:crack=abc", "not a number"),
        ("rare:concrete=0.1", "not a known class"),
        ("crack=abc", "not a number"),
        ("crack=-1", ">= 0"),
        ("crack=0,rust=0", "all weights are zero"),
        ("crack", "CLASS=WEIGHT"),
        ("crack=1,crack=2", "twice"),
        ("concrete=1", "not a known class"),
        ("algae=1", "not among --classes"),
        (",", "empty"),
    ],
)
def test_parse_imbalance_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_imbalance(spec, ["crack", "rust", "no_defect"])


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 20, 101])
def test_allocate_counts_sum_and_minimum(n):
    weights = parse_imbalance("rare:exposed_rebar,spalling=0.05", DEFECT_CLASSES)
    counts = allocate_counts(n, weights)
    assert sum(counts.values()) == n
    if n >= len(DEFECT_CLASSES):
        assert all(c >= 1 for c in counts.values())
    else:  # not enough for everyone: the heavier classes get them
        assert counts["exposed_rebar"] + counts["spalling"] == max(0, n - 6)


def test_allocate_counts_follows_weights():
    counts = allocate_counts(100, {"crack": 0.3, "rust": 0.0, "no_defect": 0.7})
    assert counts == {"crack": 30, "rust": 0, "no_defect": 70}
    counts = allocate_counts(10, parse_imbalance("rare:crack=0.01", ["crack", "rust", "algae"]))
    assert counts["crack"] == 1 and sum(counts.values()) == 10


# -- rendering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", DEFECT_CLASSES)
def test_render_sample_shapes_and_masks(cls):
    for seed in range(2):
        image, mask, fg = render_sample(cls, _rng(seed), size=SIZE)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert mask.shape == (SIZE, SIZE) and mask.dtype == bool
        assert fg is None
        if cls == "no_defect":
            assert not mask.any()
        else:
            assert mask.sum() >= 6, (cls, seed)
        assert image.std() > 3  # textured, not flat


def test_render_sample_is_deterministic():
    a = render_sample("spalling", _rng(5), size=SIZE)
    b = render_sample("spalling", _rng(5), size=SIZE)
    c = render_sample("spalling", _rng(6), size=SIZE)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_render_sample_rejects_unknown_class():
    with pytest.raises(ValueError, match="unknown class"):
        render_sample("pothole", _rng(0), size=SIZE)


def test_crack_masks_are_thin_and_connected():
    for seed in range(6):
        _, mask, _ = render_sample("crack", _rng(seed), size=96)
        ys, xs = np.nonzero(mask)
        bbox = (np.ptp(ys) + 1) * (np.ptp(xs) + 1)
        assert mask.sum() < 0.3 * bbox, seed
        # 1-4 px wide: a 5x5 square fits almost nowhere (at most at a junction or a kink)
        assert ndi.binary_erosion(mask, np.ones((5, 5), bool)).sum() <= 0.02 * mask.sum(), seed
        labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
        largest = np.bincount(labels.ravel())[1:].max()
        assert largest >= 0.5 * mask.sum(), seed


def test_net_crack_is_a_network():
    _, mask, _ = render_sample("net_crack", _rng(3), size=128)
    labels, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    assert np.bincount(labels.ravel())[1:].max() > 60
    # a mesh encloses cells, unlike a single crack
    assert ndi.binary_fill_holes(mask).sum() > 2 * mask.sum()


def test_scene_sample_has_foreground():
    for cls in ("crack", "rust", "no_defect"):
        image, mask, fg = render_sample(cls, _rng(1), size=SIZE, scenes=True)
        assert fg is not None and fg.shape == (SIZE, SIZE) and fg.dtype == bool
        assert 0 < fg.sum() < fg.size
        assert not (mask & ~fg).any()  # the defect lies on the structure
        assert image.shape == (SIZE, SIZE, 3)


# -- writing a dataset -------------------------------------------------------------------------


def test_generate_dataset_layout(tmp_path):
    out = tmp_path / "synth-a"
    manifest = generate_dataset(out, 10, size=SIZE, seed=3, progress=False)
    assert manifest["counts"] == {c: (2 if i < 2 else 1) for i, c in enumerate(DEFECT_CLASSES)}
    assert manifest["seed"] == 3 and manifest["n"] == 10 and manifest["size"] == SIZE
    assert manifest["complete"] is True
    assert json.loads((out / "manifest.json").read_text()) == manifest

    tasks = json.loads((out / "tasks.json").read_text())
    assert len(tasks) == 10
    for task in tasks:
        assert set(task) == {"data"} and set(task["data"]) == {"image", "class"}
        url, cls = task["data"]["image"], task["data"]["class"]
        assert url.startswith("/data/local-files/?d=synth-a/images/" + cls + "/")
        rel = url[len("/data/local-files/?d=synth-a/") :]
        image = Image.open(out / rel)
        mask = Image.open(out / rel.replace("images/", "masks/", 1))
        assert image.mode == "RGB" and mask.mode == "L"
        assert image.size == mask.size == (SIZE, SIZE)
        values = set(np.unique(np.asarray(mask)).tolist())
        assert values <= {0, 255}
        assert (values == {0}) == (cls == "no_defect")
    assert not (out / "foreground").exists()


def test_generate_dataset_is_deterministic(tmp_path):
    kw = {"size": SIZE, "progress": False, "classes": "crack,rust,no_defect"}
    generate_dataset(tmp_path / "a", 6, seed=7, **kw)
    generate_dataset(tmp_path / "b", 6, seed=7, **kw)
    generate_dataset(tmp_path / "c", 6, seed=8, **kw)
    generate_dataset(tmp_path / "d", 9, seed=7, **kw)
    a, b, c, d = (_files(tmp_path / x) for x in "abcd")
    assert a == b
    assert (tmp_path / "a" / "tasks.json").read_bytes() != (
        tmp_path / "c" / "tasks.json"
    ).read_bytes()
    images_a = {k: v for k, v in a.items() if k.startswith("images/")}
    images_c = list(v for k, v in c.items() if k.startswith("images/"))
    assert not set(images_a.values()) & set(images_c)
    # a larger N keeps the images it shares with a smaller one
    assert set(a) < set(d) and all(d[k] == v for k, v in a.items())


def test_generate_dataset_workers_give_same_bytes(tmp_path):
    kw = {"size": SIZE, "progress": False, "classes": "crack,algae", "seed": 2}
    generate_dataset(tmp_path / "one", 4, **kw)
    generate_dataset(tmp_path / "two", 4, workers=2, **kw)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_generate_dataset_imbalance_and_prefix(tmp_path):
    manifest = generate_dataset(
        tmp_path / "x",
        20,
        classes=["crack", "spalling", "no_defect"],
        imbalance="crack=0.3,no_defect=0.7",
        size=32,
        progress=False,
        image_url_prefix="http://host/data/",
    )
    assert manifest["counts"] == {"crack": 6, "spalling": 0, "no_defect": 14}
    tasks = json.loads((tmp_path / "x" / "tasks.json").read_text())
    assert all(t["data"]["image"].startswith("http://host/data/images/") for t in tasks)
    assert not (tmp_path / "x" / "images" / "spalling").exists()


def test_rerun_removes_stale_files(tmp_path):
    out = tmp_path / "d"
    generate_dataset(out, 6, classes="crack,rust", size=32, progress=False)
    (out / "images" / "crack" / "mine.txt").write_text("keep me")
    generate_dataset(out, 2, classes="crack,rust", size=32, progress=False)
    pngs = sorted(p.name for p in (out / "images").rglob("*.png"))
    assert pngs == ["crack_s0_00000.png", "rust_s0_00000.png"]
    assert (out / "images" / "crack" / "mine.txt").exists()


def test_generate_dataset_scenes(tmp_path):
    out = tmp_path / "scenes"
    manifest = generate_dataset(out, 8, size=SIZE, scenes=True, seed=1, progress=False)
    assert manifest["scenes"] is True
    fgs = sorted((out / "foreground").rglob("*.png"))
    assert len(fgs) == 8
    for path in fgs:
        fg = np.asarray(Image.open(path))
        assert fg.shape == (SIZE, SIZE)
        assert set(np.unique(fg).tolist()) == {0, 255}  # neither empty nor full
        rel = path.relative_to(out / "foreground")
        mask = np.asarray(Image.open(out / "masks" / rel)) > 0
        assert not (mask & (fg == 0)).any()
        assert (out / "images" / rel).is_file()


def test_generate_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n must be"):
        generate_dataset(tmp_path / "e", 0, progress=False)
    with pytest.raises(ValueError, match="unknown class"):
        generate_dataset(tmp_path / "e", 4, classes="crack,pothole", progress=False)
    with pytest.raises(ValueError, match="imbalance"):
        generate_dataset(tmp_path / "e", 4, imbalance="rare:crack=2", progress=False)


# -- command line ------------------------------------------------------------------------------


def test_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "cli-out"
    rc = main(
        [
            "synth",
            "--out",
            str(out),
            "--n",
            "5",
            "--size",
            str(SIZE),
            "--seed",
            "4",
            "--quiet",
            "--classes",
            "crack,efflorescence",
            "--imbalance",
            "rare:crack=0.2",
        ]
    )
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "wrote 5 images" in line and str(out.resolve()) in line
    assert "crack 1" in line and "efflorescence 4" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"crack": 1, "efflorescence": 4}
    assert manifest["seed"] == 4 and manifest["imbalance"] == "rare:crack=0.2"
    assert len(list((out / "images").rglob("*.png"))) == 5


def test_cli_scenes_and_prefix(tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(
        [
            "synth",
            "--out",
            str(out),
            "--n",
            "2",
            "--size",
            "48",
            "--scenes",
            "--quiet",
            "--classes",
            "algae",
            "--image-url-prefix",
            "/data/upload/",
        ]
    )
    assert rc == 0
    assert "scenes" in capsys.readouterr().out
    assert len(list((out / "foreground" / "algae").glob("*.png"))) == 2
    tasks = json.loads((out / "tasks.json").read_text())
    assert tasks[0]["data"]["image"].startswith("/data/upload/images/algae/")


def test_cli_bad_spec_is_a_clear_error(tmp_path, capsys):
    rc = main(["synth", "--out", str(tmp_path / "bad"), "--n", "4", "--imbalance", "crack:0.5"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "synth: error" in err and "CLASS=WEIGHT" in err


def test_module_interface():
    assert callable(synth_command.add_arguments) and callable(synth_command.run)
    code = (
        "import sys, model_zoo.data.synth, model_zoo.data.dataset, model_zoo.commands.cli; "
        "print([m for m in sys.modules if m.split('.')[0] in ('ml_backend', 'label_studio', "
        "'label_studio_sdk', 'label_studio_ml')])"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
