"""The simulated active-learning loop behind ``simulate-al`` (see :mod:`.simulate_al`).

The dataset is split into a test set (stratified) and a pool whose labels are hidden. With a
``minority_share`` the minority classes are subsampled (seeded, per repeat, in the pool and in the
test set alike) so that together they make up that share: real photo sets are rarely as
imbalanced as a well-kept structure. Each repeat draws ``init`` random pool samples as the first
labeled set (the same for every strategy); then every cycle trains the task model on the labeled
set, evaluates it on the test set, and the strategy picks ``budget`` more pool samples to "label".
Strategies that keep a state between rounds (``ctx.report``) get it back as ``ctx.history`` with
the labels their picks received, as the backend's queue rounds hand it on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from model_zoo.acquisition import AcquisitionContext, get_strategy, rank_pool
from model_zoo.acquisition.base import reads_mc_samples
from model_zoo.classifier.head import FeatureHead, fit_head, linear_head

METRICS = (
    "minority_precision",
    "minority_recall",
    "majority_precision",
    "majority_recall",
    "accuracy",
)
SERIES = (*METRICS, "minority_labeled")


def metrics(
    y_true: np.ndarray, y_pred: np.ndarray, minority: list[int], majority: list[int]
) -> dict:
    """Minority precision and recall (macro over the minority classes), the same for the
    majority classes, and overall accuracy."""

    def pr(c: int) -> tuple[float, float]:
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        predicted, actual = float(np.sum(y_pred == c)), float(np.sum(y_true == c))
        return (tp / predicted if predicted else 0.0), (tp / actual if actual else 0.0)

    mins = [pr(c) for c in minority]
    majs = [pr(c) for c in majority]
    return {
        "minority_precision": float(np.mean([p for p, _ in mins])),
        "minority_recall": float(np.mean([r for _, r in mins])),
        "majority_precision": float(np.mean([p for p, _ in majs])) if majs else 0.0,
        "majority_recall": float(np.mean([r for _, r in majs])) if majs else 0.0,
        "accuracy": float(np.mean(y_true == y_pred)),
    }


@dataclass
class Data:
    features: np.ndarray
    labels: np.ndarray  # class indices
    classes: list[str]
    minority: list[str]

    @property
    def minority_idx(self) -> list[int]:
        return [self.classes.index(c) for c in self.minority]

    @property
    def majority_idx(self) -> list[int]:
        return [i for i in range(len(self.classes)) if i not in self.minority_idx]


@dataclass(frozen=True)
class Loop:
    init: int
    budget: int
    cycles: int
    diversity: int = 0
    mc_samples: int = 20
    seed: int = 0
    test_fraction: float = 0.3
    #: subsample the minority classes to this share of pool and test set (0: as they are)
    minority_share: float = 0.0
    #: > 0: strategies are not told the minority; every class under this share counts as one
    rare_share: float = 0.0


def subsample_minority(
    rows: np.ndarray, labels: np.ndarray, minority: list[int], share: float, rng
) -> np.ndarray:
    """``rows`` with the minority classes' rows subsampled (each class in proportion) so that
    they are ``share`` of the result; unchanged when they already are no more than that."""
    is_min = np.isin(labels[rows], minority)
    n_major = int((~is_min).sum())
    want = int(round(share * n_major / (1.0 - share)))
    if not 0.0 < share < 1.0 or want >= int(is_min.sum()):
        return rows
    keep = [rows[~is_min]]
    for c in minority:
        members = rows[labels[rows] == c]
        n = max(1, int(round(len(members) * want / is_min.sum()))) if len(members) else 0
        keep.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(keep))


def stratified_test_mask(
    labels: np.ndarray, n_classes: int, test_fraction: float, seed: int
) -> np.ndarray:
    """The test set (a mask), stratified: ``test_fraction`` of every class."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        test[members[: int(round(len(members) * test_fraction))]] = True
    return test


def repeat_split(data: Data, loop: Loop, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(test rows, pool rows) of repeat ``r``: the seed's split, minority subsampled per repeat."""
    test = stratified_test_mask(data.labels, len(data.classes), loop.test_fraction, loop.seed)
    test_rows, pool_rows = np.flatnonzero(test), np.flatnonzero(~test)
    if loop.minority_share:
        rng = np.random.default_rng([loop.seed, r, 7])
        pool_rows = subsample_minority(
            pool_rows, data.labels, data.minority_idx, loop.minority_share, rng
        )
        test_rows = subsample_minority(
            test_rows, data.labels, data.minority_idx, loop.minority_share, rng
        )
    return test_rows, pool_rows


def simulate(
    features: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    strategies: list[str],
    minority: list[str],
    loop: Loop,
    *,
    repeats: int,
    progress: bool = True,
    head: FeatureHead | None = None,
) -> dict:
    """Run the loop; returns ``{"per_repeat": {strategy: {series: (cycles+1, repeats) list}}}``
    with the notes and the split's sizes. ``head``: the classifier head trained each cycle
    (default: the zoo ViTs' linear head)."""
    from tqdm import tqdm

    head = head or linear_head(features.shape[1], len(classes))
    data = Data(features, labels, classes, minority)
    test_rows, pool_rows = repeat_split(data, loop, 0)
    needed = loop.init + loop.cycles * loop.budget
    if needed > len(pool_rows):
        raise ValueError(
            f"--init {loop.init} + --cycles {loop.cycles} x --budget {loop.budget} = {needed} "
            f"labels, but the pool has only {len(pool_rows)} samples; lower them or use more data"
        )
    out = {name: {m: [] for m in SERIES} for name in strategies}
    notes: dict[str, list[str]] = {name: [] for name in strategies}
    total = len(strategies) * repeats * (loop.cycles + 1)
    bar = tqdm(total=total, desc="simulate-al", unit="cycle", disable=not progress, file=sys.stderr)
    for name in strategies:
        strategy = get_strategy(name)
        for r in range(repeats):
            curves = _repeat(data, loop, strategy, head, r, bar, notes[name])
            for key, values in curves.items():
                out[name][key].append(values)
    bar.close()
    minority_idx = data.minority_idx
    return {
        "per_repeat": {
            name: {k: np.asarray(v).T.tolist() for k, v in d.items()} for name, d in out.items()
        },
        "notes": notes,
        "pool_size": int(len(pool_rows)),
        "test_size": int(len(test_rows)),
        "pool_minority": int(np.isin(labels[pool_rows], minority_idx).sum()),
        "test_minority": int(np.isin(labels[test_rows], minority_idx).sum()),
    }


def _repeat(data: Data, loop: Loop, strategy, head, r, bar, notes) -> dict:
    """One repeat of one strategy: ``init`` random labels (the same start for every
    strategy), then ``cycles`` rounds of train, evaluate, acquire ``budget``."""
    test_rows, pool_all = repeat_split(data, loop, r)
    rep_rng = np.random.default_rng([loop.seed, r])
    labeled = list(rep_rng.choice(pool_all, loop.init, replace=False))
    curves: dict[str, list] = {m: [] for m in SERIES}
    x_test, y_test = data.features[test_rows], data.labels[test_rows]
    minority_idx, majority_idx = data.minority_idx, data.majority_idx
    history: dict = {}
    for cycle in range(loop.cycles + 1):
        lab = np.asarray(labeled)
        model = fit_head(head, data.features[lab], data.labels[lab], seed=r * 1000 + cycle)
        predicted = model.probabilities(x_test).argmax(1)
        for key, value in metrics(y_test, predicted, minority_idx, majority_idx).items():
            curves[key].append(value)
        curves["minority_labeled"].append(int(np.isin(data.labels[lab], minority_idx).sum()))
        bar.update(1)
        if cycle == loop.cycles:
            break
        picks, history = _acquire(data, loop, strategy, model, pool_all, lab, (r, cycle), history)
        labeled.extend(picks)
        notes.extend(n for n in history.pop("notes") if n not in notes)
    return curves


def _acquire(data: Data, loop: Loop, strategy, model, pool_all, lab, when, history) -> tuple:
    """(the ``budget`` pool rows the strategy picks next, the history for the next round)."""
    r, cycle = when
    taken = np.zeros(len(data.labels), dtype=bool)
    taken[lab] = True
    pool = pool_all[~taken[pool_all]]
    pool_features = data.features[pool]
    probabilities = model.probabilities(pool_features)
    ctx = AcquisitionContext(
        pool_features=pool_features,
        labeled_features=data.features[lab],
        labeled_labels=[data.classes[i] for i in data.labels[lab]],
        probabilities=probabilities,
        mc_probabilities=model.mc_probabilities(pool_features, loop.mc_samples, seed=r)
        if reads_mc_samples(strategy)
        else None,
        classes=data.classes,
        minority=() if loop.rare_share else data.minority,
        minority_share=loop.rare_share,
        seed=loop.seed * 7919 + r * 31 + cycle,
        batch=loop.budget,
        history=_labeled_history(data, history),
    )
    _, order = rank_pool(strategy, ctx, diversity=loop.diversity and loop.budget, seed=r)
    picks = [int(i) for i in pool[order[: loop.budget]]]
    report = dict(ctx.report)
    if "minority_picks" in report:
        report["picked_rows"] = [int(pool[i]) for i in report.pop("minority_picks")]
    return picks, {**report, "notes": ctx.notes}


def _labeled_history(data: Data, history: dict) -> dict:
    """The previous round's report with the labels its minority picks got (all were labeled)."""
    out = {k: v for k, v in history.items() if k != "picked_rows"}
    if "picked_rows" in history:
        out["picked_labels"] = [data.classes[data.labels[i]] for i in history["picked_rows"]]
    return out
