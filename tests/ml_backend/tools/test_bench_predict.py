"""``python -m ml_backend bench`` times a /predict path that really predicts."""

from __future__ import annotations

from ml_backend.tools.bench_predict import bench_model


def test_the_bench_serves_a_trained_head_so_predict_runs_the_model():
    # an untrained head pre-labels nothing; the bench fits one first, and its /predict timing
    # asserts that every task got a prediction (it would time downloads alone otherwise)
    row = bench_model("tiny-vit", n_images=4, batch=2, size=48, repeats=1)
    assert row["model"] == "tiny-vit" and row["batch"] == 2
    assert row["predict_ms_per_image"] > 0 and row["forward_ms_per_image"] > 0
    # the ratio is of the unrounded times; the printed times are rounded to 0.01 ms, so the
    # ratio must lie within what those roundings allow (a fixed tolerance fails on fast models)
    predict, forward, half = row["predict_ms_per_image"], row["forward_ms_per_image"], 0.005
    lowest = (predict - half) / (forward + half) - half
    highest = (predict + half) / max(forward - half, 1e-9) + half
    assert lowest <= row["ratio"] <= highest
