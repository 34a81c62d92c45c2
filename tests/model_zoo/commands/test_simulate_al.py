from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model_zoo.commands.simulate_al import Loop, plot, simulate, summarise


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
        Loop(init=40, budget=30, cycles=2),
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


def test_minority_share_subsamples_the_minority_of_pool_and_test_alike():
    from model_zoo.commands.al_loop import Data, repeat_split, subsample_minority

    labels = np.r_[np.zeros(400, int), np.ones(300, int)]
    rng = np.random.default_rng(0)
    rows = subsample_minority(np.arange(700), labels, [1], 0.05, rng)
    assert (labels[rows] == 0).sum() == 400
    assert (labels[rows] == 1).sum() == round(0.05 * 400 / 0.95)
    again = subsample_minority(np.arange(700), labels, [1], 0.9, rng)
    assert len(again) == 700, "already rarer than asked: left as it is"
    data = Data(np.zeros((700, 2)), labels, ["a", "b"], ["b"])
    loop = Loop(init=10, budget=10, cycles=1, minority_share=0.1)
    (test0, pool0), (test1, pool1) = repeat_split(data, loop, 0), repeat_split(data, loop, 1)
    for rows in (test0, pool0, test1, pool1):
        assert abs((labels[rows] == 1).mean() - 0.1) < 0.01
    assert not set(test0) & set(pool0)
    assert set(pool0) != set(pool1), "a new subsample per repeat (seeded)"
    assert set(test0[labels[test0] == 0]) == set(test1[labels[test1] == 0]), "one test split"


def test_a_split_strategy_gets_its_history_back_and_finds_the_minority(one_thread):
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=3.0, size=(3, 12))
    labels = np.r_[np.zeros(300, int), np.ones(300, int), np.full(40, 2)]
    features = centres[labels] + rng.normal(size=(len(labels), 12))
    raw = simulate(
        features,
        labels,
        ["a", "b", "rare"],
        ["minority-split", "random"],
        ["rare"],
        Loop(init=30, budget=20, cycles=3, minority_share=0.04),
        repeats=2,
        progress=False,
    )
    assert raw["pool_minority"] == round(0.04 * 420 / 0.96)
    found = {n: np.mean(v["minority_labeled"][-1]) for n, v in raw["per_repeat"].items()}
    assert found["minority-split"] > found["random"]
    rare_share = simulate(
        features, labels, ["a", "b", "rare"], ["minority-split"], ["rare"],
        Loop(init=30, budget=20, cycles=2, minority_share=0.04, rare_share=0.1),
        repeats=1, progress=False,
    )  # fmt: skip
    assert np.mean(rare_share["per_repeat"]["minority-split"]["minority_labeled"][-1]) > 2


def test_versus_pairs_the_repeats_against_the_baseline():
    from model_zoo.commands.al_report import versus

    per_repeat = {
        "bald": {"minority_recall": [[0.1, 0.1], [0.4, 0.6]], "accuracy": [[0, 0], [0.8, 0.9]]},
        "split": {"minority_recall": [[0.1, 0.1], [0.6, 0.7]], "accuracy": [[0, 0], [0.81, 0.93]]},
    }
    table = versus(per_repeat, "bald")
    assert table["bald"] == {"recall_ratio": 1.0, "accuracy_diff": 0.0, "accuracy_diff_se": 0.0}
    assert table["split"]["recall_ratio"] == 1.3
    assert table["split"]["accuracy_diff"] == 0.02
    assert table["split"]["accuracy_diff_se"] == 0.01  # the paired differences 0.01 and 0.03
