"""What an annotator gave: clicks (positive or negative) and boxes, in pixels of the original image.

Coordinates are continuous pixel coordinates: ``x`` in ``[0, width]``, ``y`` in ``[0, height]``,
boxes as ``(x0, y0, x1, y1)`` (XYXY, like segment-anything). :meth:`Prompts.check` raises
:class:`PromptError` (a ``ValueError``) with a message that names the offending prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[float, float]
Box = tuple[float, float, float, float]


class PromptError(ValueError):
    """A prompt that cannot be segmented (outside the image, a 0-size box, nothing positive)."""


@dataclass(frozen=True)
class Prompts:
    points: tuple[Point, ...] = ()
    positive: tuple[bool, ...] = ()
    boxes: tuple[Box, ...] = field(default=())

    def __post_init__(self):
        if len(self.points) != len(self.positive):
            raise PromptError(
                f"{len(self.points)} points but {len(self.positive)} is_positive flags"
            )

    @property
    def positive_points(self) -> list[Point]:
        return [p for p, pos in zip(self.points, self.positive, strict=True) if pos]

    @property
    def negative_points(self) -> list[Point]:
        return [p for p, pos in zip(self.points, self.positive, strict=True) if not pos]

    def check(self, width: int, height: int) -> None:
        """Raise :class:`PromptError` unless every prompt lies on a ``width`` x ``height`` image."""
        for i, (x, y) in enumerate(self.points):
            if not (0 <= x <= width and 0 <= y <= height):
                raise PromptError(
                    f"point {i} at ({x:.1f}, {y:.1f}) px is outside the {width}x{height} image"
                )
        for i, (x0, y0, x1, y1) in enumerate(self.boxes):
            if x1 - x0 < 1 or y1 - y0 < 1:
                raise PromptError(
                    f"box {i} ({x0:.1f}, {y0:.1f}, {x1:.1f}, {y1:.1f}) px has no area "
                    "(width and height must be at least 1 pixel)"
                )
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise PromptError(f"box {i} lies outside the {width}x{height} image")
        if not self.boxes and not self.positive_points:
            raise PromptError("nothing to segment: give at least one positive point or a box")


def clip_box(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))


def in_box(point: Point, box: Box) -> bool:
    x, y = point
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def prompt_groups(
    prompts: Prompts, width: int, height: int
) -> list[tuple[list[Point], list[int], Box | None]]:
    """``(points, labels, box)`` per segmentation: one per box (clipped to the image) with the
    positive clicks inside it, one for the positive clicks outside every box. Negative clicks
    (label 0) go with every group; positive ones have label 1."""
    negatives = prompts.negative_points
    boxes = [clip_box(b, width, height) for b in prompts.boxes]
    groups = []
    for box in boxes:
        inside = [p for p in prompts.positive_points if in_box(p, box)]
        groups.append((inside + negatives, [1] * len(inside) + [0] * len(negatives), box))
    loose = [p for p in prompts.positive_points if not any(in_box(p, b) for b in boxes)]
    if loose:
        groups.append((loose + negatives, [1] * len(loose) + [0] * len(negatives), None))
    return groups
