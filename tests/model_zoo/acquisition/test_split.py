"""minority-split: the round is shared between the minority and the others, the share follows
what the labels say, several rare classes each get picks; TypiClust and share-based minority."""

from __future__ import annotations

import numpy as np
import pytest

from model_zoo.acquisition import AcquisitionContext, get_strategy, rank_pool
from model_zoo.acquisition.discriminator import resolve_minority
from model_zoo.acquisition.split import MinoritySplit, interleave, round_robin
from model_zoo.acquisition.typiclust import typical_picks

CLASSES = ["no_defect", "crack", "rust", "rebar"]


def pool_and_labels(seed: int = 0, rare: tuple[str, ...] = ("rebar",), labeled_rare: int = 4):
    """Clusters per class in 16-d; the pool holds 200 of each common class and 20 of each rare
    one; the labeled set 20 per common class and ``labeled_rare`` per rare one."""
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(scale=4.0, size=16) for c in CLASSES}
    common = [c for c in CLASSES if c not in rare]

    def draw(c: str, n: int) -> np.ndarray:
        return centres[c] + rng.normal(size=(n, 16))

    pool_classes = [c for c in CLASSES for _ in range(20 if c in rare else 200)]
    pool = np.concatenate([draw(c, 20 if c in rare else 200) for c in CLASSES])
    lab_classes = [c for c in CLASSES for _ in range(labeled_rare if c in rare else 20)]
    labeled = np.concatenate([draw(c, labeled_rare if c in rare else 20) for c in CLASSES])
    # a model that is unsure between the common classes on a few rows
    probs = np.full((len(pool), len(CLASSES)), 0.02)
    for i, c in enumerate(pool_classes):
        probs[i, CLASSES.index(c)] = 0.94
    unsure = rng.choice(np.flatnonzero(np.isin(pool_classes, common)), 30, replace=False)
    probs[unsure, :2] = 0.48
    probs[unsure, 2:] = 0.02
    probs /= probs.sum(1, keepdims=True)
    return pool, np.array(pool_classes), labeled, lab_classes, probs, unsure


def context(rare=("rebar",), history=None, batch=40, **kw) -> tuple[AcquisitionContext, np.ndarray]:
    pool, pool_classes, labeled, lab_classes, probs, unsure = pool_and_labels(rare=rare, **kw)
    ctx = AcquisitionContext(
        pool_features=pool,
        labeled_features=labeled,
        labeled_labels=lab_classes,
        probabilities=probs,
        classes=CLASSES,
        minority=list(rare),
        batch=batch,
        history=history or {},
    )
    return ctx, pool_classes


def head(ctx: AcquisitionContext, strategy=None) -> np.ndarray:
    _, order = rank_pool(strategy or MinoritySplit(other="margin"), ctx, diversity=ctx.batch)
    return order[: ctx.batch]


def test_interleave_keeps_the_share_in_every_prefix():
    out = interleave(list(range(100)), list(range(100, 200)), 0.25, 40)
    assert len(out) == len(set(out)) == 40
    for k in (4, 8, 20, 40):
        assert sum(i < 100 for i in out[:k]) == k // 4
    assert interleave([1, 2], [3, 4, 5], 0.9, 5) == [1, 2, 3, 4, 5]  # one list runs out
    assert round_robin([np.array([1, 2, 3]), np.array([7, 1, 8])]) == [1, 7, 2, 3, 8]


def test_the_round_holds_minority_picks_and_uncertain_diverse_others():
    ctx, truth = context()
    picks = head(ctx)
    share = ctx.report["split"]
    assert 0.2 <= share <= 0.8
    n_min = round(share * 40)
    assert sorted(ctx.report["minority_picks"]) == sorted(
        i for i in picks.tolist() if i in ctx.report["minority_picks"]
    )
    assert len(ctx.report["minority_picks"]) == n_min
    assert (truth[ctx.report["minority_picks"]] == "rebar").mean() >= 0.9
    others = [i for i in picks.tolist() if i not in ctx.report["minority_picks"]]
    unsure = pool_and_labels()[5]
    # 30 unsure rows of 600 common ones (5 %); the rest of the round is diverse
    assert np.isin(others, unsure).mean() >= 0.5, "the other part asks what the model is unsure of"
    # any prefix of the round holds about the split's share of minority picks
    first_ten = picks[:10].tolist()
    assert abs(sum(i in ctx.report["minority_picks"] for i in first_ten) - 10 * share) <= 1


def test_the_split_follows_what_the_labels_said_about_the_last_picks():
    hits = {"found": 0.5, "picked_labels": ["rebar"] * 10}
    misses = {"found": 0.5, "picked_labels": ["no_defect"] * 10}
    many, _ = context(history=hits, labeled_rare=1)
    few, _ = context(history=misses, labeled_rare=1)
    head(many)
    head(few)
    assert many.report["split"] > few.report["split"]
    assert few.report["split"] == pytest.approx(0.2)  # the floor still searches
    assert many.report["found"] > 0.8 and few.report["found"] < 0.2


def test_a_minority_as_well_labeled_as_the_others_gets_only_the_floor():
    ctx, _ = context(labeled_rare=40, history={"found": 1.0})
    head(ctx)
    assert ctx.report["split"] == pytest.approx(0.2)
    unbalanced = MinoritySplit(other="margin", balance=False)
    ctx2, _ = context(labeled_rare=40, history={"found": 1.0})
    head(ctx2, unbalanced)
    assert ctx2.report["split"] == pytest.approx(0.8)


def test_several_rare_classes_each_get_picks():
    ctx, truth = context(rare=("rust", "rebar"))
    head(ctx)
    found = truth[ctx.report["minority_picks"]].tolist()
    assert found.count("rust") >= 3 and found.count("rebar") >= 3


def test_a_rare_class_without_labels_is_searched_by_coreset():
    ctx, truth = context(rare=("rust", "rebar"), labeled_rare=0)
    head(ctx)
    assert any("no label of" in n for n in ctx.notes)
    assert np.isin(truth[ctx.report["minority_picks"]], ["rust", "rebar"]).mean() >= 0.5


def test_rare_classes_by_share_when_none_is_configured():
    pool, _, labeled, labels, probs, _ = pool_and_labels(rare=("rust", "rebar"))
    ctx = AcquisitionContext(
        pool, labeled, labels, probabilities=probs, classes=CLASSES, minority_share=0.1
    )
    assert sorted(resolve_minority(ctx)) == ["rebar", "rust"]
    # labeled shares alone would drift: 20 of each labeled, but the pool says they are rare
    ctx = AcquisitionContext(
        pool,
        np.concatenate([labeled, labeled[-20:]]),
        [*labels, *labels[-20:]],
        probabilities=probs,
        classes=CLASSES,
        minority_share=0.1,
    )
    assert "rebar" in resolve_minority(ctx)
    none_rare = AcquisitionContext(pool, labeled, labels, classes=CLASSES, minority_share=0.01)
    assert resolve_minority(none_rare) == ["rebar", "rust"]  # the rarest labeled, as before


def test_nothing_labeled_and_no_model_do_not_crash():
    pool = pool_and_labels()[0]
    ctx = AcquisitionContext(pool, None, [], classes=CLASSES, batch=10)
    scores, order = rank_pool(get_strategy("minority-split"), ctx, diversity=10)
    assert sorted(order.tolist()) == list(range(len(pool)))
    assert any("TypiClust" in n for n in ctx.notes)
    ctx, _ = context()
    ctx.probabilities = None
    head(ctx, get_strategy("minority-split"))
    assert any("no trained model" in n or "using" in n for n in ctx.notes)


def test_typiclust_takes_one_dense_point_per_uncovered_cluster():
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=6.0, size=(5, 8))
    pool = np.concatenate([c + rng.normal(size=(40, 8)) for c in centres])
    labeled = centres[:2] + 0.01  # the first two clusters are covered
    picks = typical_picks(pool, labeled, 3, seed=0)
    cluster = np.array(picks) // 40
    assert sorted(cluster.tolist()) == [2, 3, 4]
    for i in picks:  # typical: near its cluster's centre
        assert np.linalg.norm(pool[i] - centres[i // 40]) < 2.5
