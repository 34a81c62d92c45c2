"""Reading an image-folder dataset: the one layout every data-reading command accepts.

Layout::

    ROOT/images/<class>/<name>.<ext>        the images, one folder per class
    ROOT/masks/<class>/<name>.<ext>         optional: 0/255 defect mask, same stem as the image
    ROOT/foreground/<class>/<name>.<ext>    optional: 0/255 mask of the structure (scenes)

``<ext>`` is any of :data:`IMAGE_EXTENSIONS` (case-insensitive).  Class folders may hold
sub-folders; a mask is matched by the image's path relative to its class folder, with any
image extension.  ``python -m model_zoo synth`` writes this layout.

This module only needs numpy and Pillow, so that every command can import it cheaply.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

DEFECT_CLASSES: tuple[str, ...] = (
    "crack",
    "net_crack",
    "spalling",
    "exposed_rebar",
    "rust",
    "efflorescence",
    "algae",
    "no_defect",
)
"""The defect classes of the project, in canonical order (also the folder names)."""

CLASS_TITLES: dict[str, str] = {
    "crack": "Crack",
    "net_crack": "Net crack",
    "spalling": "Spalling",
    "exposed_rebar": "Exposed rebar",
    "rust": "Rust",
    "efflorescence": "Efflorescence",
    "algae": "Algae",
    "no_defect": "No defect",
}
"""Human-readable titles of :data:`DEFECT_CLASSES` (as shown in Label Studio)."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
)
"""File extensions read as images (compared lower-case)."""

LAYOUT_HELP = (
    "expected layout: ROOT/images/<class>/<name>.png (one folder per class; "
    ".png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp), optional ROOT/masks/<class>/<name>.png "
    "and ROOT/foreground/<class>/<name>.png; `python -m model_zoo synth --out ROOT --n 100` "
    "writes an example"
)


class DatasetError(ValueError):
    """The directory is not a dataset in the expected layout (the message says why)."""


@dataclass(frozen=True)
class Sample:
    """One image of a dataset, with its class and optional masks."""

    image_path: Path
    label: str
    mask_path: Path | None = None
    foreground_path: Path | None = None


def class_title(name: str) -> str:
    """Title of a class: the known title, else the folder name made readable."""
    return CLASS_TITLES.get(name, name.replace("_", " ").strip().capitalize() or name)


def sort_classes(names: Sequence[str] | set[str]) -> list[str]:
    """Known classes in :data:`DEFECT_CLASSES` order first, then the others alphabetically."""
    names = set(names)
    known = [c for c in DEFECT_CLASSES if c in names]
    return known + sorted(names - set(known))


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def find_images(folder: str | Path) -> tuple[list[Path], int]:
    """Image files under ``folder``, recursively and sorted (anything under a hidden name
    ignored), and how many other files were skipped. NotADirectoryError for a missing folder."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"{root} does not exist or is not a folder")
    images: list[Path] = []
    other = 0
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file():
            if is_image_file(path):
                images.append(path)
            else:
                other += 1
    return images, other


def _class_rng(seed: int, label: str) -> np.random.Generator:
    # Per-class generator: a class's draw does not depend on which other classes exist.
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(label.encode("utf-8"))])


@dataclass
class Dataset:
    """The samples of a dataset directory (see the module doc for the layout)."""

    root: Path
    samples: list[Sample]
    classes: list[str]
    skipped: int = 0
    skipped_files: list[Path] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.samples]

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class, in :attr:`classes` order (zero counts included)."""
        counts = dict.fromkeys(self.classes, 0)
        for s in self.samples:
            counts[s.label] = counts.get(s.label, 0) + 1
        return counts

    def class_index(self, label: str) -> int:
        return self.classes.index(label)

    def _with(self, samples: list[Sample]) -> Dataset:
        # Sub-datasets keep the full class list, so that class indices stay the same.
        return Dataset(root=self.root, samples=samples, classes=list(self.classes))

    def _by_class(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {c: [] for c in self.classes}
        for i, s in enumerate(self.samples):
            groups.setdefault(s.label, []).append(i)
        return groups

    def split(self, test_fraction: float = 0.3, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Stratified (train, test) split, deterministic for a seed.

        Every class with at least two images has at least one in each part; a class with a
        single image goes to train.  Both parts keep the full :attr:`classes` list.
        """
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(
                f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}"
            )
        train_idx: list[int] = []
        test_idx: list[int] = []
        for label, idx in self._by_class().items():
            n = len(idx)
            if n == 0:
                continue
            if n == 1:
                train_idx.extend(idx)
                continue
            n_test = min(max(round(n * test_fraction), 1), n - 1)
            order = _class_rng(seed, label).permutation(n)
            test_idx.extend(idx[j] for j in order[:n_test])
            train_idx.extend(idx[j] for j in order[n_test:])
        return (
            self._with([self.samples[i] for i in sorted(train_idx)]),
            self._with([self.samples[i] for i in sorted(test_idx)]),
        )

    def subset_per_class(self, k: int, seed: int = 0) -> Dataset:
        """At most ``k`` samples per class, drawn at random (deterministic for a seed)."""
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        keep: list[int] = []
        for label, idx in self._by_class().items():
            if len(idx) <= k:
                keep.extend(idx)
            else:
                order = _class_rng(seed, label).permutation(len(idx))[:k]
                keep.extend(idx[j] for j in order)
        return self._with([self.samples[i] for i in sorted(keep)])


def _index_files(folder: Path) -> dict[tuple[str, Path], Path]:
    """Image files under ``folder/<class>/`` keyed by (class, relative path without suffix)."""
    index: dict[tuple[str, Path], Path] = {}
    if not folder.is_dir():
        return index
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and is_image_file(path) and not path.name.startswith("."):
                key = (class_dir.name, path.relative_to(class_dir).with_suffix(""))
                # Prefer a .png mask when several files share a stem.
                if key not in index or path.suffix.lower() == ".png":
                    index[key] = path
    return index


_FULL_DECODE_PIXELS = 4_000_000


def _readable(path: Path) -> bool:
    """Cheap check that an image decodes: header/CRC verification, then a decode (JPEG at
    1/8 scale; other formats only up to a few megapixels) to catch truncated files."""
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
            elif im.width * im.height <= _FULL_DECODE_PIXELS:
                im.load()
        return True
    except Exception as exc:  # noqa: BLE001 - any decoder error means "unreadable"
        log.debug("cannot read %s: %s", path, exc)
        return False


def load_dataset(root: str | Path, verify: bool = True) -> Dataset:
    """Read a dataset directory in the layout of this module's doc.

    Non-image and unreadable files are skipped with a warning and counted in
    ``dataset.skipped`` (hidden files are ignored).  ``verify=False`` skips the decode check
    (faster on large datasets; unreadable files then fail when opened).

    Raises :class:`DatasetError` when the directory is missing, has no ``images/`` folder,
    or holds no readable image.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset directory {root} does not exist; {LAYOUT_HELP}")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory; {LAYOUT_HELP}")
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise DatasetError(f"{root} has no images/ folder; {LAYOUT_HELP}")

    masks = _index_files(root / "masks")
    foregrounds = _index_files(root / "foreground")
    samples: list[Sample] = []
    skipped: list[Path] = []
    for path in sorted(images_dir.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            log.warning("skipping %s: not in a class folder (images/<class>/)", path)
            skipped.append(path)
    for class_dir in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        if not class_dir.name.startswith("."):
            samples += _class_samples(class_dir, masks, foregrounds, verify, skipped)

    if not samples:
        extra = f" ({len(skipped)} file(s) skipped as unreadable or not images)" if skipped else ""
        raise DatasetError(f"no images found under {images_dir}{extra}; {LAYOUT_HELP}")
    if skipped:
        log.warning("%s: skipped %d unreadable or non-image file(s)", root, len(skipped))
    classes = sort_classes({s.label for s in samples})
    return Dataset(
        root=root, samples=samples, classes=classes, skipped=len(skipped), skipped_files=skipped
    )


def _class_samples(
    class_dir: Path,
    masks: dict,
    foregrounds: dict,
    verify: bool,
    skipped: list[Path],
) -> list[Sample]:
    """The samples of one ``images/<class>/`` folder, with their masks; what is skipped is
    added to ``skipped``."""
    label = class_dir.name
    samples = []
    for path in sorted(class_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if not is_image_file(path):
            log.warning("skipping %s: not an image file", path)
            skipped.append(path)
            continue
        if verify and not _readable(path):
            log.warning("skipping %s: unreadable image", path)
            skipped.append(path)
            continue
        key = (label, path.relative_to(class_dir).with_suffix(""))
        mask = _companion(masks.get(key), verify, "mask")
        fg = _companion(foregrounds.get(key), verify, "foreground mask")
        samples.append(Sample(path, label, mask, fg))
    return samples


def _companion(path: Path | None, verify: bool, what: str) -> Path | None:
    """A sample's mask file, or None when there is none or (``verify``) it is unreadable."""
    if path is not None and verify and not _readable(path):
        log.warning("ignoring unreadable %s %s", what, path)
        return None
    return path


def open_image(path: str | Path) -> Image.Image:
    """Open an image as 8-bit RGB (EXIF orientation applied; 16-bit and float rescaled)."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            arr = np.asarray(im, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
            return Image.fromarray(arr.round().astype(np.uint8)).convert("RGB")
        return im.convert("RGB")


def open_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as a bool array (H, W): ``True`` where the mask is set.

    Single-channel 0/255 (or 0/1) PNGs are the norm; RGB(A) and palette masks count a pixel
    when any colour channel is set (and, with alpha, it is not transparent).  Lossy JPEG masks
    are thresholded at half range.  ``size`` is ``(width, height)`` as in PIL; the mask is
    resized with nearest-neighbour when it differs.
    """
    path = Path(path)
    lossy = path.suffix.lower() in (".jpg", ".jpeg", ".webp")
    with Image.open(path) as im:
        if size is not None and tuple(im.size) != tuple(size):
            im = im.resize(tuple(size), Image.Resampling.NEAREST)
        if im.mode == "P":
            im = im.convert("RGBA")
        arr = np.asarray(im)
    if arr.dtype == bool:
        return arr.copy() if arr.ndim == 2 else arr.any(axis=-1)
    threshold = 127 if lossy and arr.dtype == np.uint8 else 0
    if arr.ndim == 2:
        return arr > threshold
    channels = arr.shape[-1]
    if channels in (2, 4):  # LA / RGBA
        colour = (arr[..., : channels - 1] > threshold).any(axis=-1)
        return colour & (arr[..., -1] > 0)
    return (arr > threshold).any(axis=-1)


__all__ = [
    "CLASS_TITLES",
    "DEFECT_CLASSES",
    "IMAGE_EXTENSIONS",
    "Dataset",
    "DatasetError",
    "Sample",
    "class_title",
    "is_image_file",
    "load_dataset",
    "open_image",
    "open_mask",
    "sort_classes",
]
