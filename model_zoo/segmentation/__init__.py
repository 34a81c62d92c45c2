"""A segmentation network (smp U-Net on a timm encoder) learned from corrected masks.

``train_segmentation(samples, labels, SegTrainConfig(...))`` -> :class:`SegmentationModel`;
``model.predict(images)`` -> per image ``{label: probability map}`` at original size;
``model.save(dir)`` / ``load_segmentation(dir)``.
"""

from model_zoo.segmentation.data import SegmentationSample
from model_zoo.segmentation.encoders import ENCODERS, EncoderSpec
from model_zoo.segmentation.metrics import iou_per_label, mean_iou
from model_zoo.segmentation.model import (
    SegmentationModel,
    is_segmentation_folder,
    load_segmentation,
)
from model_zoo.segmentation.regions import Region, regions_from_probabilities
from model_zoo.segmentation.train import (
    MIN_SAMPLES,
    SegTrainConfig,
    TooFewMasks,
    train_segmentation,
)

__all__ = [
    "ENCODERS",
    "MIN_SAMPLES",
    "EncoderSpec",
    "Region",
    "SegTrainConfig",
    "SegmentationModel",
    "SegmentationSample",
    "TooFewMasks",
    "iou_per_label",
    "is_segmentation_folder",
    "load_segmentation",
    "mean_iou",
    "regions_from_probabilities",
    "train_segmentation",
]
