"""The mask sources of ``eval-masks``: what each learns on the training part, and its scores.

Every source yields, per test defect image, the regions an annotator would see (bool masks at
the image's size) for the image's true class; :class:`model_zoo.masks.scoring.MaskScores`
scores them. The learned sources also predict on the test ``no_defect`` images:
``no_defect_clean`` is the share left without any region.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from model_zoo.data.dataset import Sample, open_image, open_mask
from model_zoo.masks.data import NO_DEFECT
from model_zoo.masks.scoring import MaskScores, components

BASELINE_NAMES = ("whole-image", "centre-box", "intensity", "dark")


def cap_per_class(samples: Sequence[Sample], most: int, seed: int) -> list[Sample]:
    """At most ``most`` samples of each class (seeded draw; 0: all)."""
    if most <= 0:
        return list(samples)
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for label in sorted({s.label for s in samples}):
        group = [s for s in samples if s.label == label]
        out += [group[i] for i in sorted(rng.permutation(len(group))[:most])]
    return out


@dataclass
class TestImage:
    sample: Sample
    image: Image.Image
    truth: np.ndarray | None = None  # bool mask (defect images)
    truth_labels: np.ndarray | None = None  # its connected components


@dataclass
class TestSet:
    defect: list[TestImage]
    background: list[TestImage]

    @classmethod
    def of(cls, test: Sequence[Sample], defects: Sequence[str], most: int, seed: int) -> TestSet:
        masked = [s for s in test if s.label in defects and s.mask_path is not None]
        if most and len(masked) > most:
            keep = sorted(np.random.default_rng(seed).permutation(len(masked))[:most])
            masked = [masked[i] for i in keep]
        defect = []
        for s in masked:
            image = open_image(s.image_path)
            truth = open_mask(s.mask_path, image.size)
            if truth.any():
                defect.append(TestImage(s, image, truth, components(truth)[0]))
        background = [TestImage(s, open_image(s.image_path)) for s in test if s.label == NO_DEFECT]
        if most and len(background) > most:
            keep = sorted(np.random.default_rng(seed + 1).permutation(len(background))[:most])
            background = [background[i] for i in keep]
        return cls(defect, background)


@dataclass
class Context:
    args: object
    classes: list[str]
    defects: list[str]
    train: list[Sample]
    test: TestSet
    classifier_record: dict = field(default_factory=dict)
    _classifier: object = None

    @property
    def classifier(self):
        """The classifier fine-tuned on the training part's image labels (once)."""
        if self._classifier is None:
            self._classifier, self.classifier_record = train_classifier(self)
        return self._classifier

    def save_dir(self, name: str) -> Path | None:
        folder = getattr(self.args, "save_models", "")
        return Path(folder) / name if folder else None


def train_classifier(context: Context):
    from model_zoo.cam.pipeline import CamConfig, classify_and_segment
    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.training import TrainConfig, fine_tune

    args, classes = context.args, context.classes
    classifier = load_classifier(args.model, classes, device="cpu", seed=args.seed)
    pairs = [(open_image(s.image_path), classes.index(s.label)) for s in context.train]
    seconds = 0.0
    if args.epochs > 0:
        result = fine_tune(
            classifier, pairs, [], TrainConfig(epochs=args.epochs, seed=args.seed, progress=False)
        )
        seconds = result.seconds
        print(f"classifier fine-tuned on {len(pairs)} image labels in {seconds:.0f}s")
    elif not classifier.head_trained:
        raise SystemExit(f"--epochs 0 uses --model as it is, but {args.model} has no trained head")
    else:  # a classifier fine-tuned before (on this training part: the caller's word)
        print(f"classifier {args.model} used as it is (--epochs 0)")
    test = context.test.defect + context.test.background
    hits = 0
    for start in range(0, len(test), 16):
        chunk = test[start : start + 16]
        probs = classify_and_segment(
            classifier, [t.image for t in chunk], CamConfig(score_threshold=2.0, refine=())
        ).probabilities
        hits += sum(
            classes[int(i)] == t.sample.label for i, t in zip(probs.argmax(1), chunk, strict=True)
        )
    if context.save_dir("classifier"):
        classifier.save(context.save_dir("classifier"), version="eval-masks")
    record = {
        "model": args.model,
        "train_images": len(pairs),
        "epochs": args.epochs,
        "seconds": round(seconds, 1),
        "fine_tuned_here": args.epochs > 0,
        "test_accuracy": hits / max(1, len(test)),
    }
    return classifier, record


Regions = list[np.ndarray]


def score(
    test: TestSet, regions_of: Callable[[list[TestImage]], list[Regions]], kind: str, n=None
) -> dict:
    """Scores of a source: ``regions_of(images)`` -> per image its regions (bool masks)."""
    scores = MaskScores()
    tic = time.perf_counter()
    for start in range(0, len(test.defect), 16):
        chunk = test.defect[start : start + 16]
        for item, regions in zip(chunk, regions_of(chunk), strict=True):
            pred = np.zeros(item.truth.shape, dtype=bool)
            for region in regions:
                pred |= region
            scores.add(item.sample.label, pred, item.truth, regions, item.truth_labels)
    row = {"kind": kind, "corrected": n, **scores.report()}
    row["ms_per_image"] = round(1000 * (time.perf_counter() - tic) / max(1, len(test.defect)), 1)
    return row


def baseline_regions(name: str, min_area: int) -> Callable:
    from model_zoo.cam.scoring import baseline_proposals
    from model_zoo.segmentation.pseudo import dark_regions

    def regions_of(chunk: list[TestImage]) -> list[Regions]:
        if name == "dark":
            return [dark_regions(t.image, min_area) for t in chunk]
        return [[p.full_mask() for p in baseline_proposals(name, t.image, min_area)] for t in chunk]

    return regions_of


def cam_regions(classifier, min_area: int) -> Callable:
    from model_zoo.cam.pipeline import CamConfig, segment

    config = CamConfig(min_area=min_area, score_threshold=0.0)

    def regions_of(chunk: list[TestImage]) -> list[Regions]:
        forced = [[classifier.classes.index(t.sample.label)] for t in chunk]
        found = segment(classifier, [t.image for t in chunk], config, forced=forced)
        return [[p.full_mask() for m in masks for p in m.proposals] for masks in found]

    return regions_of


def model_regions(model, min_area: int, label_of: Callable[[TestImage], str | None]):
    """Regions of a segmentation model, as the backend serves them."""
    from model_zoo.segmentation import regions_from_probabilities

    def regions_of(chunk: list[TestImage]) -> list[Regions]:
        out = []
        for item, maps in zip(chunk, model.predict([t.image for t in chunk]), strict=True):
            labels = [label_of(item)] if label_of(item) else list(maps)
            out.append(
                [r.mask for label in labels
                 for r in regions_from_probabilities(maps[label], model.threshold, min_area, None)]
            )  # fmt: skip
        return out

    return regions_of


def clean_share(test: TestSet, regions_of: Callable) -> float | None:
    """Share of the test no_defect images left without any region."""
    if not test.background:
        return None
    clean = 0
    for start in range(0, len(test.background), 16):
        clean += sum(not regions for regions in regions_of(test.background[start : start + 16]))
    return clean / len(test.background)


def corrected_samples(context: Context, n: int):
    """``n`` masked training images spread over the defect classes (seeded), and as many
    ``no_defect`` training images as background."""
    from model_zoo.segmentation import SegmentationSample

    rng = np.random.default_rng(context.args.seed)
    pools = {
        c: [context.train[i] for i in rng.permutation(len(context.train))
            if context.train[i].label == c and context.train[i].mask_path is not None]
        for c in context.defects
    }  # fmt: skip
    chosen: list[Sample] = []
    while len(chosen) < n and any(pools.values()):
        for c in context.defects:
            if pools[c] and len(chosen) < n:
                chosen.append(pools[c].pop(0))
    negatives = [s for s in context.train if s.label == NO_DEFECT]
    negatives = [negatives[i] for i in rng.permutation(len(negatives))[: len(chosen)]]
    samples = []
    for s in chosen + negatives:
        image = open_image(s.image_path)
        masks = {s.label: open_mask(s.mask_path, image.size)} if s.mask_path else {}
        samples.append(SegmentationSample(image, masks, key=s.image_path.stem))
    return samples


def seg_config(context: Context, **changes):
    from model_zoo.segmentation import SegTrainConfig

    args = context.args
    config = SegTrainConfig(encoder=args.encoder, seed=args.seed, device="cpu", **changes)
    if args.input_size:
        config.input_size = args.input_size
    if getattr(args, "crop_size", 0):
        config.crop_size = args.crop_size
    if getattr(args, "min_side", -1) >= 0:
        config.min_side = args.min_side
    if args.loss:
        config.loss = args.loss
    return config


def train_corrected(context: Context, n: int, start=None):
    """The segmentation model on ``n`` corrected masks, from ``start``'s weights (the weak
    model, as a project continues its live model) or from ImageNet (None)."""
    from model_zoo.segmentation import train_segmentation

    samples = corrected_samples(context, n)
    config = seg_config(context, min_samples=2)
    if context.args.seg_epochs:
        config.epochs = context.args.seg_epochs
    model = train_segmentation(samples, context.defects, config, start=start)
    keep = ("holdout_mean_iou", "best_epoch", "epochs_run", "train_samples", "holdout_samples")
    record = {k: model.meta[k] for k in keep} | {"seconds": model.meta["seconds"]}
    record["masked_images"] = sum(s.has_foreground for s in samples)
    record["started_from"] = "the weak model" if start is not None else "ImageNet"
    print(f"corrected-{n}: trained in {model.meta['seconds']:.0f}s ({record})")
    if context.save_dir(f"corrected-{n}"):
        model.save(context.save_dir(f"corrected-{n}"))
    return model, record


def train_weak(context: Context):
    from model_zoo.segmentation.weak import WeakConfig, train_weak_segmentation

    args = context.args
    if getattr(args, "weak_model", ""):  # trained before on this training part: the caller's word
        from model_zoo.segmentation import load_segmentation

        model = load_segmentation(args.weak_model, device="cpu")
        print(f"weak: the model of {args.weak_model} used as it is")
        return model, {"status": "loaded", "folder": args.weak_model, "meta": model.meta}
    pool = cap_per_class(context.train, args.weak_images, args.seed)
    examples = [(open_image(s.image_path), s.label) for s in pool]
    config = WeakConfig()  # the backend's weak recipe (its epochs, no hold-out), eval's sizes
    base = config.segmentation
    config.segmentation = seg_config(
        context, min_samples=2, holdout_fraction=0.0, epochs=base.epochs, patience=base.patience
    )
    if args.weak_epochs:
        config.segmentation.epochs = args.weak_epochs
    if args.weak_rounds:
        config.rounds = args.weak_rounds
    model, record = train_weak_segmentation(context.classifier, examples, context.defects, config)
    print(f"weak: {record.get('status')} ({record.get('reason', '')})")
    if model is not None and context.save_dir("weak"):
        model.save(context.save_dir("weak"))
    return model, record


def _learned(context: Context, model, kind: str, n=None) -> dict:
    min_area = context.args.min_area
    row = score(context.test, model_regions(model, min_area, lambda t: t.sample.label), kind, n)
    row["no_defect_clean"] = clean_share(context.test, model_regions(model, min_area, _none))
    return row


def _none(_item) -> None:
    return None


def score_all(context: Context, kinds: set[str], counts: list[int]) -> tuple[dict, dict]:
    """``(results, training records)`` of the chosen source kinds, baselines first."""
    args, test = context.args, context.test
    results: dict[str, dict] = {}
    records: dict[str, dict] = {}
    if "baselines" in kinds:
        for name in BASELINE_NAMES:
            results[name] = score(test, baseline_regions(name, args.min_area), "baseline")
            print(f"{name}: IoU {results[name]['overall']['iou']:.3f}")
    if "cam" in kinds or "weak" in kinds:
        records["classifier"] = context.classifier and context.classifier_record
    if "cam" in kinds:
        results["cam"] = score(test, cam_regions(context.classifier, args.min_area), "cam")
        print(f"cam: IoU {results['cam']['overall']['iou']:.3f}")
    weak = None
    if "weak" in kinds:
        weak, records["weak"] = train_weak(context)
        if weak is not None:
            results["weak"] = _learned(context, weak, "weak")
            print(f"weak: IoU {results['weak']['overall']['iou']:.3f}")
    start = weak if getattr(args, "corrected_start", "weak") == "weak" else None
    for n in counts if "corrected" in kinds else []:
        model, records[f"corrected-{n}"] = train_corrected(context, n, start)
        results[f"corrected-{n}"] = _learned(context, model, "corrected", n)
        print(f"corrected-{n}: IoU {results[f'corrected-{n}']['overall']['iou']:.3f}")
    return results, records
