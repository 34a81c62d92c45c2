"""Interactive masks: an annotator's clicks and boxes in, one mask out (no Label Studio here).

- :mod:`.prompts`: the prompts (pixels of the original image) and their checks;
- :mod:`.cache`: the per-process LRU cache of per-image work, bounded by bytes;
- :mod:`.sam_source`: Segment Anything (``SamPredictor``; embedding cached per image);
- :mod:`.fallback`: no weights: superpixels for blobs, a ridge filter for cracks;
- :mod:`.registry`: ``SOURCES`` by name, ``build_source``, ``default_source``.
"""
