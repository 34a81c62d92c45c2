"""Backbones whose pretrained weights ship offline (registry packages), built through timm."""

from model_zoo.backbones.efficientnet_lite import (
    PACKAGED_BACKBONES,
    BackboneWeightsError,
    PackagedBackbone,
    create_timm_backbone,
    timm_state_dict,
)

__all__ = [
    "PACKAGED_BACKBONES",
    "BackboneWeightsError",
    "PackagedBackbone",
    "create_timm_backbone",
    "timm_state_dict",
]
