"""Acquisition strategies: each ranks what it should first, and bad input falls back, never crashes."""

from __future__ import annotations

import numpy as np
import pytest

from model_zoo.acquisition import (
    PRESETS,
    STRATEGIES,
    AcquisitionContext,
    AcquisitionError,
    acquisition_order,
    diverse_top_k,
    get_strategy,
)
from model_zoo.acquisition.base import rank_normalise
from model_zoo.acquisition.coreset import k_center_greedy
from model_zoo.acquisition.discriminator import resolve_minority

CLASSES = ["no_defect", "crack", "exposed_rebar"]


def imbalanced(seed: int = 0, n_pool: int = 600, n_min_pool: int = 30):
    """Two well separated majority clusters and one minority cluster; minority rows come first."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, 16))

    def draw(cls: int, n: int) -> np.ndarray:
        return centres[cls] + rng.normal(size=(n, 16))

    pool = np.concatenate(
        [
            draw(2, n_min_pool),
            draw(0, (n_pool - n_min_pool) // 2),
            draw(1, (n_pool - n_min_pool) // 2),
        ]
    )
    labeled = np.concatenate([draw(0, 40), draw(1, 40), draw(2, 8)])
    labels = ["no_defect"] * 40 + ["crack"] * 40 + ["exposed_rebar"] * 8
    return pool, labeled, labels


def context(**kw) -> AcquisitionContext:
    pool, labeled, labels = imbalanced()
    base = {
        "pool_features": pool,
        "labeled_features": labeled,
        "labeled_labels": labels,
        "classes": CLASSES,
    }
    base.update(kw)
    return AcquisitionContext(**base)


def precision_at(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    return float(relevant[np.argsort(-scores)[:k]].mean())


def test_discriminator_ranks_the_minority_first():
    ctx = context(minority=["exposed_rebar"])
    scores = get_strategy("discriminator").score(ctx)
    relevant = np.zeros(ctx.n_pool, dtype=bool)
    relevant[:30] = True
    assert precision_at(scores, relevant, 30) > 0.9
    random = get_strategy("random").score(context())
    assert precision_at(random, relevant, 30) < 0.3
    assert ctx.notes == []
    assert np.all((scores >= 0) & (scores <= 1)), "calibrated probabilities"


def test_discriminator_takes_the_rarest_labeled_class_without_configuration():
    ctx = context()
    assert resolve_minority(ctx) == ["exposed_rebar"]


def test_unknown_minority_name_is_reported_and_the_rarest_class_used():
    ctx = context(minority=["Exposed Rebar", "corrosion_pit"])
    assert resolve_minority(ctx) == ["exposed_rebar"]  # name matched ignoring case and spaces
    assert any("corrosion_pit" in n for n in ctx.notes)
    ctx = context(minority=["corrosion_pit"])
    assert resolve_minority(ctx) == ["exposed_rebar"]
    assert any("not classes of this project" in n for n in ctx.notes)


def test_no_minority_labels_yet_falls_back_to_coreset():
    pool, labeled, labels = imbalanced()
    keep = [i for i, label in enumerate(labels) if label != "exposed_rebar"]
    ctx = AcquisitionContext(
        pool, labeled[keep], [labels[i] for i in keep], classes=CLASSES, minority=["exposed_rebar"]
    )
    scores = get_strategy("discriminator").score(ctx)
    assert scores.shape == (ctx.n_pool,) and np.isfinite(scores).all()
    assert any("no labeled sample of the minority" in n and "coreset" in n for n in ctx.notes)
    relevant = np.zeros(ctx.n_pool, dtype=bool)
    relevant[:30] = True  # the unseen cluster is farthest from everything labeled
    assert precision_at(scores, relevant, 30) > 0.9


def test_single_labeled_class_and_nothing_labeled_do_not_crash():
    pool, labeled, labels = imbalanced()
    one = AcquisitionContext(pool, labeled[:40], labels[:40], classes=CLASSES)
    assert np.isfinite(get_strategy("discriminator").score(one)).all()
    assert one.notes
    empty = AcquisitionContext(pool, None, [], classes=CLASSES)
    for name in [*STRATEGIES, *PRESETS]:
        scores = get_strategy(name).score(empty)
        assert scores.shape == (len(pool),), name


def test_empty_pool_scores_nothing():
    ctx = AcquisitionContext(np.zeros((0, 4)), None, [])
    assert get_strategy("discriminator").score(ctx).shape == (0,)
    assert acquisition_order(np.zeros(0), np.zeros((0, 4)), batch=10).shape == (0,)


def test_uncertainty_strategies_prefer_the_uncertain_row():
    probs = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [0.7, 0.2, 0.1]])
    ctx = AcquisitionContext(np.zeros((3, 2)), probabilities=probs)
    for name in ("least-confidence", "margin", "entropy"):
        scores = get_strategy(name).score(ctx)
        assert list(np.argsort(-scores)) == [1, 2, 0], name


def test_uncertainty_without_a_model_falls_back_to_random():
    ctx = AcquisitionContext(np.zeros((5, 2)))
    assert get_strategy("entropy").score(ctx).shape == (5,)
    assert "using random" in ctx.notes[0]


def test_bald_is_high_where_mc_samples_disagree():
    agree = np.tile([[0.5, 0.5]], (10, 1))  # uncertain but consistent: low mutual information
    disagree = np.array([[1.0, 0.0], [0.0, 1.0]] * 5)  # each pass sure, passes disagree
    mc = np.stack([agree, disagree], axis=1)  # (T=10, N=2, C=2)
    ctx = AcquisitionContext(np.zeros((2, 3)), mc_probabilities=mc, probabilities=mc.mean(0))
    scores = get_strategy("bald").score(ctx)
    assert scores[1] > scores[0] + 0.5
    assert get_strategy("entropy").score(ctx)[0] == pytest.approx(scores[1], abs=1e-6)


def test_coreset_and_dal_prefer_the_uncovered_region():
    pool, labeled, labels = imbalanced()
    majority_only = [i for i, label in enumerate(labels) if label != "exposed_rebar"]
    relevant = np.zeros(len(pool), dtype=bool)
    relevant[:30] = True
    for name in ("coreset", "dal"):
        ctx = AcquisitionContext(pool, labeled[majority_only], [labels[i] for i in majority_only])
        assert precision_at(get_strategy(name).score(ctx), relevant, 30) > 0.8, name


def test_combination_is_a_product_of_ranks():
    combo = get_strategy("discriminator*coreset")
    assert combo.name == "discriminator*coreset"
    ctx = context(minority=["exposed_rebar"])
    scores = combo.score(ctx)
    assert scores.shape == (ctx.n_pool,) and (scores > 0).all() and (scores <= 1).all()
    assert get_strategy("minority-representative").name == "discriminator*dal"
    assert get_strategy("entropy+random").name == "entropy+random"


def test_rank_normalise_keeps_ties():
    r = rank_normalise(np.array([3.0, 1.0, 3.0, 2.0]))
    assert r[0] == r[2] and r[1] < r[3] < r[0]


def test_unknown_strategy_names_the_choices():
    with pytest.raises(AcquisitionError, match="discriminator"):
        get_strategy("bold")


def test_diverse_top_k_avoids_near_duplicates():
    rng = np.random.default_rng(1)
    blob = rng.normal(scale=0.01, size=(50, 8)) + 5.0  # 50 near-duplicates with top scores
    others = rng.normal(scale=3.0, size=(50, 8))
    features = np.concatenate([blob, others])
    scores = np.r_[np.linspace(1.0, 0.9, 50), np.linspace(0.8, 0.5, 50)]
    plain = np.argsort(-scores)[:10]
    diverse = diverse_top_k(scores, features, 10)
    assert (plain < 50).all()
    assert sum(i < 50 for i in diverse) <= 3
    assert diverse[0] == 0  # the best sample is still first
    order = acquisition_order(scores, features, batch=10)
    assert sorted(order.tolist()) == list(range(100))


def test_k_center_greedy_spreads_out():
    x = np.array([[1, 0], [0.99, 0.01], [0, 1], [-1, 0]], dtype=float)
    picked = k_center_greedy(x, 3, reference=np.array([[1.0, 0.0]]))
    assert set(picked) == {2, 3, 1} or set(picked) >= {2, 3}
    assert 0 not in picked[:2]
