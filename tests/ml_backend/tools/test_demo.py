"""What the demo prints about the predictions Label Studio stored."""

from __future__ import annotations

from ml_backend.tools.demo import PredictionCounts


def test_counts_choices_versions_and_mask_regions():
    stored = [
        {
            "model_version": "demo-classifier-1",
            "result": [
                {"type": "choices", "value": {"choices": ["Crack"]}},
                {"type": "brushlabels", "value": {"brushlabels": ["Crack"], "rle": [1, 2]}},
                {"type": "brushlabels", "value": {"brushlabels": ["Crack"], "rle": [3]}},
            ],
        },
        {"model_version": "demo-classifier-1", "result": [{"type": "choices", "value": {}}]},
        {"model_version": "other", "result": None},
    ]
    counts = PredictionCounts.of(stored)
    assert counts.choices == {"Crack": 1}
    assert counts.versions == {"demo-classifier-1": 2, "other": 1}
    assert counts.masks == {"Crack": 2}  # one per region, not per prediction


def test_nothing_stored_counts_nothing():
    counts = PredictionCounts.of([])
    assert (counts.choices, counts.versions, counts.masks) == ({}, {}, {})


def test_demo_tasks_are_spread_over_the_class_ordered_set():
    from ml_backend.tools.demo import spread

    items = [f"{c}-{i}" for c in "abcdefgh" for i in range(50)]
    picked = spread(items, 60)
    assert len(picked) == 60 and {p[0] for p in picked} == set("abcdefgh")
    per_class = [sum(p[0] == c for p in picked) for c in "abcdefgh"]
    assert max(per_class) - min(per_class) <= 1
    assert spread(items, 0) == [] and spread([], 5) == []


def test_user_images_are_found_recursively_and_spread(tmp_path):
    from PIL import Image

    from ml_backend.tools.demo import user_images

    for folder, count in [("a", 3), ("b/c", 5)]:
        (tmp_path / folder).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8)).save(tmp_path / folder / f"img{i}.JPG")
    (tmp_path / "notes.txt").write_text("not an image")
    found = user_images(tmp_path, limit=100)
    assert len(found) == 8 and all(p.suffix == ".JPG" for p in found)
    assert len(user_images(tmp_path, limit=4)) == 4


def test_user_images_say_what_is_wrong(tmp_path):
    import pytest

    from ml_backend.tools.demo import user_images

    with pytest.raises(SystemExit, match="no such folder"):
        user_images(tmp_path / "missing", limit=10)
    with pytest.raises(SystemExit, match="no image files"):
        user_images(tmp_path, limit=10)
