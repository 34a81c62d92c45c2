"""Length, width and area of defect regions in binary masks (pixels, and mm given a scale)."""

from model_zoo.measure.regions import (
    RegionMeasures,
    check_scale,
    label_regions,
    measure_region,
    measure_regions,
)

__all__ = ["RegionMeasures", "check_scale", "label_regions", "measure_region", "measure_regions"]
