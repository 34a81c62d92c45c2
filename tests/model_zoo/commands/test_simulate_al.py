from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model_zoo.commands.simulate_al import plot, simulate, summarise


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny heads: more threads only contend on a shared CPU
    yield
    torch.set_num_threads(before)


def test_simulation_reports_every_cycle_and_discriminator_finds_more_minority(tmp_path, one_thread):
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(3, 12))
    labels = np.r_[np.zeros(300, int), np.ones(300, int), np.full(30, 2)]
    features = centres[labels] + rng.normal(size=(len(labels), 12))
    raw = simulate(
        features,
        labels,
        ["a", "b", "rare"],
        ["discriminator", "random"],
        ["rare"],
        init=40,
        budget=30,
        cycles=2,
        repeats=2,
        progress=False,
    )
    summary = summarise(raw["per_repeat"], 40, 30)
    assert [r["labeled"] for r in summary["random"]] == [40, 70, 100]
    for rows in summary.values():
        for row in rows:
            for key in ("minority_precision", "minority_recall", "accuracy"):
                assert 0.0 <= row[key]["mean"] <= 1.0 and row[key]["se"] >= 0.0
    found = {name: rows[-1]["minority_labeled"]["mean"] for name, rows in summary.items()}
    assert found["discriminator"] > found["random"]
    plot(summary, tmp_path / "p.png", "test")
    assert (tmp_path / "p.png").stat().st_size > 1000
    json.dumps(summary)
