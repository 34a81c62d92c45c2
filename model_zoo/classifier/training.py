"""Fine-tuning a classifier on labeled images: head first, then the top blocks.

Works on plain lists of ``(PIL image, class index)`` so that any source can feed it (a dataset
directory, Label Studio annotations); for a multi-label classifier the target is a list of
class indices and the loss is a per-class sigmoid. Class imbalance is handled with class weights, the best
epoch on the hold-out split is kept (early stopping), and the metrics are returned.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from model_zoo.classifier.model import ImageClassifier

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 15
    head_epochs: int = 2  # epochs with the backbone frozen before the top blocks are opened
    train_blocks: str = "auto"  # "head", "all", "auto" or a number of top blocks
    batch_size: int = 32
    lr: float = 1e-3
    backbone_lr: float = 2e-4
    weight_decay: float = 0.05
    patience: int = 5
    seed: int = 0
    augment: bool = True
    progress: bool = True


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _blocks(model: nn.Module) -> nn.ModuleList | None:
    """The longest ModuleList of transformer layers / CNN stages inside the backbone."""
    best = None
    for name, module in model.named_modules():
        is_candidate = isinstance(module, nn.ModuleList) and "classifier" not in name
        if is_candidate and (best is None or len(module) > len(best)):
            best = module
    return best


def _head(model: nn.Module) -> nn.Module:
    head = getattr(model, "classifier", None)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no `classifier` head to fine-tune")
    return head


def set_trainable(model: nn.Module, blocks: str, random_backbone: bool) -> list[nn.Parameter]:
    """Freeze everything but the head and the chosen top blocks; return the backbone params."""
    mode = blocks
    if mode == "auto":
        mode = "all" if random_backbone else "2"
    for p in model.parameters():
        p.requires_grad = mode == "all"
    for p in _head(model).parameters():
        p.requires_grad = True
    if mode not in {"all", "head"}:
        n = int(mode)
        layers = _blocks(model)
        if layers is not None and n > 0:
            for layer in list(layers)[-n:]:
                for p in layer.parameters():
                    p.requires_grad = True
        # final norms after the blocks belong with them
        for name, module in model.named_modules():
            if (
                isinstance(module, nn.LayerNorm)
                and name.count(".") <= 1
                and "classifier" not in name
            ):
                for p in module.parameters():
                    p.requires_grad = True
    head_ids = {id(p) for p in _head(model).parameters()}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    flip_h = torch.rand(n, generator=generator) < 0.5
    flip_v = torch.rand(n, generator=generator) < 0.5
    x = x.clone()
    x[flip_h] = x[flip_h].flip(-1)
    x[flip_v] = x[flip_v].flip(-2)
    gain = 1.0 + 0.2 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    bias = 0.2 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    return x * gain + bias


def evaluate(probs: np.ndarray, targets: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1 and per-class precision/recall/support."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(targets, pred, labels=labels, zero_division=0)
    present = s > 0
    return {
        "accuracy": float(accuracy_score(targets, pred)) if len(targets) else float("nan"),
        "macro_precision": float(p[present].mean()) if present.any() else float("nan"),
        "macro_recall": float(r[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f[present].mean()) if present.any() else float("nan"),
        "per_class": {
            classes[i]: {"precision": float(p[i]), "recall": float(r[i]), "support": int(s[i])}
            for i in labels
        },
        "n": int(len(targets)),
    }


def evaluate_multilabel(
    probs: np.ndarray, targets: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Subset accuracy and per-class precision/recall at probability 0.5 (multi-hot targets)."""
    from sklearn.metrics import precision_recall_fscore_support

    pred = probs >= 0.5
    p, r, f, s = precision_recall_fscore_support(targets, pred, zero_division=0)
    present = s > 0
    return {
        "accuracy": float((pred == targets.astype(bool)).all(axis=1).mean())
        if len(targets)
        else float("nan"),
        "macro_precision": float(p[present].mean()) if present.any() else float("nan"),
        "macro_recall": float(r[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f[present].mean()) if present.any() else float("nan"),
        "per_class": {
            classes[i]: {"precision": float(p[i]), "recall": float(r[i]), "support": int(s[i])}
            for i in range(len(classes))
        },
        "n": int(len(targets)),
    }


def _targets(labels: Sequence, n_classes: int, multi_label: bool) -> torch.Tensor:
    if not multi_label:
        return torch.tensor([int(y) for y in labels], dtype=torch.long)
    out = torch.zeros(len(labels), n_classes)
    for row, y in enumerate(labels):
        for index in [y] if isinstance(y, int) else y:
            out[row, int(index)] = 1.0
    return out


def _tensors(
    classifier: ImageClassifier, images: Sequence[Image.Image], batch: int = 64
) -> torch.Tensor:
    chunks = [classifier.preprocess(images[i : i + batch]) for i in range(0, len(images), batch)]
    return torch.cat(chunks) if chunks else torch.zeros(0)


def fine_tune(
    classifier: ImageClassifier,
    train: Sequence[tuple[Image.Image, int]],
    val: Sequence[tuple[Image.Image, int]] = (),
    config: TrainConfig | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Fine-tune ``classifier`` in place on ``train``; keep the best epoch on ``val``.

    Labels are indices into ``classifier.classes``. Without ``val`` the last epoch is kept.
    """
    config = config or TrainConfig()
    if not train:
        raise ValueError("no training images: label some images first")
    started = time.perf_counter()
    n_classes = len(classifier.classes)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    device = classifier.device
    model = classifier.model
    multi = classifier.multi_label
    x_train = _tensors(classifier, [im for im, _ in train])
    y_train = _targets([y for _, y in train], n_classes, multi)
    x_val = _tensors(classifier, [im for im, _ in val]) if val else None
    y_val = _targets([y for _, y in val], n_classes, multi).numpy() if val else np.zeros(0)
    score_fn = evaluate_multilabel if multi else evaluate

    if multi:
        positives = y_train.sum(0)
        pos_weight = ((len(y_train) - positives) / positives.clamp(min=1)).clamp(max=20.0)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight.to(device))
    else:
        counts = torch.bincount(y_train, minlength=n_classes).float()
        balance = (counts.sum() / (counts.clamp(min=1) * n_classes)).sqrt()
        loss_fn = nn.CrossEntropyLoss(weight=torch.where(counts > 0, balance, 0.0).to(device))

    random_backbone = not classifier.head_trained and classifier.source.kind == "random"
    backbone_params = set_trainable(model, "head", random_backbone)
    opened = config.head_epochs <= 0
    if opened:
        backbone_params = set_trainable(model, config.train_blocks, random_backbone)

    def make_optimizer(backbone):
        groups = [{"params": list(_head(model).parameters()), "lr": config.lr}]
        if backbone:
            lr = config.lr if random_backbone else config.backbone_lr
            groups.append({"params": backbone, "lr": lr})
        return torch.optim.AdamW(groups, weight_decay=config.weight_decay)

    optimizer = make_optimizer(backbone_params)
    best_state, best_score, best_epoch, stale = None, -math.inf, 0, 0
    history: list[dict[str, float]] = []
    steps_per_epoch = max(1, math.ceil(len(train) / config.batch_size))
    progress = None
    if config.progress:
        from tqdm.auto import tqdm

        progress = tqdm(
            total=config.epochs * steps_per_epoch, desc="fine-tune", unit="step", leave=False
        )

    for epoch in range(config.epochs):
        if not opened and epoch >= config.head_epochs:
            backbone_params = set_trainable(model, config.train_blocks, random_backbone)
            optimizer = make_optimizer(backbone_params)
            opened = True
        model.train()
        order = torch.randperm(len(train), generator=generator)
        total = 0.0
        with classifier._lock:
            for start in range(0, len(order), config.batch_size):
                idx = order[start : start + config.batch_size]
                xb = x_train[idx]
                if config.augment:
                    xb = _augment(xb, generator)
                logits = model(pixel_values=xb.to(device)).logits
                loss = loss_fn(logits, y_train[idx].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                if progress is not None:
                    progress.update(1)
            model.eval()
        record = {"epoch": epoch + 1, "train_loss": total / len(train)}
        if x_val is not None and len(y_val):
            probs = classifier.probabilities(classifier.logits(x_val))
            metrics = score_fn(probs, y_val, classifier.classes)
            record.update(val_accuracy=metrics["accuracy"], val_macro_f1=metrics["macro_f1"])
            score = metrics["macro_f1"] + 1e-3 * metrics["accuracy"]
        else:
            score = -record["train_loss"]
        history.append(record)
        if progress is not None:
            progress.set_postfix({k: round(v, 3) for k, v in record.items() if k != "epoch"})
        if on_epoch is not None:
            on_epoch(record)
        if score > best_score:
            best_score, best_epoch, stale = score, epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                log.info("early stop after epoch %d (best %d)", epoch + 1, best_epoch)
                break
    if progress is not None:
        progress.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad = False
    model.eval()
    classifier.head_trained = True

    metrics: dict[str, Any] = {"train_size": len(train), "val_size": len(val)}
    if x_val is not None and len(y_val):
        probs = classifier.probabilities(classifier.logits(x_val))
        metrics.update(score_fn(probs, y_val, classifier.classes))
    return TrainResult(
        metrics=metrics,
        history=history,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - started,
    )
