"""fm-inspect: a Label Studio ML backend for visual inspection with foundation models."""

__version__ = "0.1.0"
