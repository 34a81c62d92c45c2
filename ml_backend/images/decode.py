"""Image bytes -> a loaded 8-bit RGB PIL image (EXIF orientation applied), within the pixel
limit; clear errors for what is not an image."""

from __future__ import annotations

import functools
import io
import logging

from PIL import Image, ImageOps, UnidentifiedImageError

from ml_backend.images.errors import ImageFetchError
from model_zoo.data.rgb import to_rgb

logger = logging.getLogger(__name__)

# What Label Studio shows (browser formats) plus the usual inspection-camera formats.
_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "GIF", "BMP", "DIB", "AVIF", "JPEG2000", "PPM", "TGA")


def decode_image(data: bytes, *, max_pixels: int, source: str = "image") -> Image.Image:
    """Decode ``data`` into a loaded 8-bit RGB image with EXIF orientation applied.

    The pixel count is checked from the header before any pixel is decoded."""
    try:
        img = Image.open(io.BytesIO(data), formats=_image_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(source, None, max_pixels, pil=str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _not_an_image(source, data, exc) from None
    width, height = img.size
    if width * height > max_pixels:
        raise _too_many_pixels(source, (width, height), max_pixels)
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(source, (width, height), max_pixels, pil=str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _not_an_image(source, data, exc) from None
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as exc:  # a corrupt EXIF block must not lose the image
        logger.warning("Ignoring unreadable EXIF orientation of %s: %s", source, exc)
    try:
        return to_rgb(img)
    except (ValueError, OSError) as exc:
        raise ImageFetchError(
            f"{source}: cannot convert pixel mode {img.mode!r} to RGB ({exc}).",
            reason="not_an_image",
        ) from None


def pixel_count(data: bytes) -> int:
    """Width × height from the image header (no pixel decoded); 0 if it is not readable (the
    decoder then says why)."""
    try:
        with Image.open(io.BytesIO(data), formats=_image_formats()) as img:
            width, height = img.size
    except Exception:  # a bomb, junk, a truncated header: decode_image reports it
        return 0
    return width * height


@functools.lru_cache(maxsize=1)
def _image_formats() -> tuple[str, ...]:
    """Raster formats that are decoded in-process; never EPS (Ghostscript) and other oddities."""
    Image.init()
    return tuple(f for f in _FORMATS if f in Image.OPEN)


def _too_many_pixels(
    source: str, size: tuple[int, int] | None, max_pixels: int, pil: str | None = None
) -> ImageFetchError:
    if pil is not None:
        msg = (
            f"{source}: Pillow refused it as a possible decompression bomb ({pil}). Pillow's own "
            f"limit PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS} applies besides "
            f"FetchLimits.max_pixels={max_pixels}; downscale the image."
        )
    else:
        width, height = size or (0, 0)
        mp = width * height / 1e6
        msg = (
            f"{source}: {width}x{height} pixels ({mp:.1f} MP) exceed the limit of "
            f"{max_pixels} pixels (FetchLimits.max_pixels). Downscale the image or raise the "
            "limit (it guards against decompression bombs)."
        )
    return ImageFetchError(msg, reason="too_many_pixels")


def _not_an_image(source: str, data: bytes, exc: BaseException) -> ImageFetchError:
    head = data[:64].lstrip().lower()
    hint = ""
    if head.startswith((b"<!doctype html", b"<html")):
        hint = " The content is an HTML page (a login or error page?)."
    elif head.startswith((b"{", b"[")):
        hint = " The content is JSON (an API error?)."
    elif head.startswith((b"<?xml", b"<svg")):
        hint = " SVG/XML images are not supported."
    elif not data:
        hint = " The content is empty."
    return ImageFetchError(
        f"{source} is not a readable image ({len(data)} bytes; {type(exc).__name__}: {exc}).{hint}"
        f" Supported formats: {', '.join(_image_formats())}.",
        reason="not_an_image",
    )
