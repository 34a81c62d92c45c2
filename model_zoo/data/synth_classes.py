"""Synthetic data: which classes, how many of each (``--classes``, ``--imbalance``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from model_zoo.data.dataset import DEFECT_CLASSES

# --------------------------------------------------------------------------------------------
# class selection and imbalance
# --------------------------------------------------------------------------------------------


def parse_classes(spec: str | Sequence[str] | None) -> list[str]:
    """``"crack,rust"`` (or a list) -> validated class names in canonical order; None -> all."""
    if spec is None:
        return list(DEFECT_CLASSES)
    names = [c.strip() for c in spec.split(",")] if isinstance(spec, str) else [*spec]
    names = [c for c in names if c]
    if not names:
        raise ValueError(
            "--classes is empty; give a comma-separated list of " + ", ".join(DEFECT_CLASSES)
        )
    unknown = [c for c in names if c not in DEFECT_CLASSES]
    if unknown:
        raise ValueError(
            f"unknown class(es) {', '.join(unknown)}; known: {', '.join(DEFECT_CLASSES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"--classes lists a class twice: {','.join(names)}")
    return [c for c in DEFECT_CLASSES if c in names]


def _fraction(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what}: {text!r} must be a finite number >= 0")
    return value


_IMBALANCE_HELP = (
    "use 'uniform', 'rare:CLASS[,CLASS]=FRACTION' (e.g. rare:exposed_rebar,spalling=0.05) "
    "or explicit weights 'crack=0.3,no_defect=0.5,...'"
)


def parse_imbalance(spec: str | None, classes: Sequence[str]) -> dict[str, float]:
    """Class weights (summing to 1) for an ``--imbalance`` spec over ``classes``.

    * ``uniform``: equal weights;
    * ``rare:A,B=F``: A and B share the fraction F (0 <= F <= 1), the other classes share 1 - F;
    * ``A=0.3,B=0.5``: explicit weights, normalised; classes not named get weight 0.

    Raises ValueError with a readable message on a malformed spec.
    """
    classes = list(classes)
    if not classes:
        raise ValueError("no classes selected")
    text = (spec or "uniform").strip()
    uniform = {c: 1.0 / len(classes) for c in classes}
    if text.lower() == "uniform":
        return uniform
    if text.lower().startswith("rare:"):
        weights = _rare_weights(text, classes)
        if weights is None:  # all classes are "rare": nothing to be rare against
            return uniform
    else:
        weights = _explicit_weights(text, classes)
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"--imbalance {text!r}: all weights are zero")
    return {c: w / total for c, w in weights.items()}


def _check_names(text: str, names: list[str], classes: list[str]) -> None:
    for c in names:
        if c not in classes:
            where = "is not a known class" if c not in DEFECT_CLASSES else "is not among --classes"
            raise ValueError(f"--imbalance {text!r}: {c!r} {where} ({', '.join(classes)})")


def _rare_weights(text: str, classes: list[str]) -> dict[str, float] | None:
    """``rare:A,B=F``: A and B share F, the other classes 1 - F; None when all are rare."""
    body = text[5:]
    if body.count("=") != 1:
        raise ValueError(
            f"--imbalance {text!r}: expected rare:CLASS[,CLASS]=FRACTION; {_IMBALANCE_HELP}"
        )
    names_text, frac_text = body.split("=")
    rare = [c.strip() for c in names_text.split(",") if c.strip()]
    if not rare:
        raise ValueError(f"--imbalance {text!r}: no class before '='; {_IMBALANCE_HELP}")
    _check_names(text, rare, classes)
    frac = _fraction(frac_text.strip(), f"--imbalance {text!r}")
    if frac > 1:
        raise ValueError(f"--imbalance {text!r}: the fraction must be between 0 and 1")
    others = [c for c in classes if c not in rare]
    if not others:
        return None
    weights = dict.fromkeys(classes, 0.0)
    for c in rare:
        weights[c] = frac / len(set(rare))
    for c in others:
        weights[c] = (1.0 - frac) / len(others)
    return weights


def _explicit_weights(text: str, classes: list[str]) -> dict[str, float]:
    """``A=0.3,B=0.5``: the weights given; classes not named get 0."""
    weights = dict.fromkeys(classes, 0.0)
    seen: set[str] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.count("=") != 1:
            raise ValueError(
                f"--imbalance {text!r}: {part!r} is not CLASS=WEIGHT; {_IMBALANCE_HELP}"
            )
        name, value = (p.strip() for p in part.split("="))
        _check_names(text, [name], classes)
        if name in seen:
            raise ValueError(f"--imbalance {text!r}: {name!r} is given twice")
        seen.add(name)
        weights[name] = _fraction(value, f"--imbalance {text!r}")
    if not seen:
        raise ValueError(f"--imbalance {text!r} is empty; {_IMBALANCE_HELP}")
    return weights


def allocate_counts(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``n`` images over classes by weight: sums to ``n`` exactly; every class with a
    non-zero weight gets at least one image when ``n`` allows (largest remainder otherwise)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    names = list(weights)
    positive = [c for c in names if weights[c] > 0]
    counts = dict.fromkeys(names, 0)
    if n == 0 or not positive:
        return counts
    order = {c: i for i, c in enumerate(names)}
    if n < len(positive):  # cannot give everyone one: the heaviest classes win
        for c in sorted(positive, key=lambda c: (-weights[c], order[c]))[:n]:
            counts[c] = 1
        return counts
    target = {c: weights[c] * n for c in names}
    for c in positive:
        counts[c] = max(1, int(math.floor(target[c])))
    while sum(counts.values()) > n:  # take from the most over-served class that can spare one
        c = max(
            (c for c in positive if counts[c] > 1), key=lambda c: (counts[c] - target[c], -order[c])
        )
        counts[c] -= 1
    while sum(counts.values()) < n:  # largest remainder
        c = max(positive, key=lambda c: (target[c] - counts[c], -order[c]))
        counts[c] += 1
    return counts
