"""``bench-cam --segmentation``: Choices + segmentation masks in tiles, and a big photo's memory.

Rows (same images, same run as ``bench-cam``'s): the Choices (the classifier's
``predict_proba``) plus the segmentation model's tiled masks (:mod:`model_zoo.segmentation.
tiling`) at each working-size bound of ``--seg-max-sides`` (0: the image's full resolution),
with the number of tiles per image. Then the peak memory of one ``--memory-size`` photo through
the tiled prediction, measured in a child process so the rows above do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

from model_zoo.commands.timing import best_seconds, peak_mb


def load_model(spec: str):
    """A saved segmentation folder, or an encoder name (random decoder: timing only)."""
    from pathlib import Path

    from model_zoo.segmentation import SegmentationModel, load_segmentation
    from model_zoo.segmentation.encoders import encoder_spec
    from model_zoo.segmentation.network import build_network

    if Path(spec).is_dir():
        return load_segmentation(spec, device="cpu")
    encoder = encoder_spec(spec)
    network = build_network(encoder, 1, pretrained=encoder.pretrained is not None)
    return SegmentationModel(network, ["crack"], encoder.name, encoder.input_size, 0.5, {}, "cpu")


def segmentation_rows(classifier, model, images, base: dict, max_sides, repeats: int) -> list:
    from model_zoo.segmentation.tiling import tile_count

    rows = []
    for max_side in max_sides:
        model.max_side = int(max_side)

        def once():
            classifier.predict_proba(images)
            model.predict(images)

        per_image, per_image_cpu = (t / len(images) for t in best_seconds(once, repeats))
        w, h = images[0].size
        rows.append(
            {
                "config": f"Choices + segmentation tiles (max side {max_side or 'full'})",
                "ms_per_image": 1000 * per_image,
                "ratio_to_forward": per_image / base["forward"],
                "ratio_to_choices": per_image / base["choices"],
                "cpu_ms_per_image": 1000 * per_image_cpu,
                "cpu_ratio_to_forward": per_image_cpu / base["forward_cpu"],
                "regions_per_image": float(
                    tile_count(
                        w, h, model.input_size, model.overlap, model.max_side, model.min_side
                    )
                ),
                "peak_rss_mb": peak_mb(),
            }
        )
    return rows


_CHILD = """
import json, resource, sys, time
import numpy as np
from PIL import Image
from model_zoo.commands.segmentation_cost import load_model
model = load_model(sys.argv[1])
model.max_side = int(sys.argv[3])
size = int(sys.argv[2])
rng = np.random.default_rng(0)
image = Image.fromarray(rng.integers(90, 200, (size, size, 3), dtype=np.uint8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tic = time.perf_counter()
maps = model.predict([image])
seconds = time.perf_counter() - tic
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"before_mb": before, "peak_mb": peak, "seconds": seconds,
                  "map_shape": list(next(iter(maps[0].values())).shape)}))
"""


def photo_memory(spec: str, size: int, max_side: int, threads: int) -> dict:
    """Peak resident memory of a child process predicting one ``size`` px photo."""
    env_threads = {"OMP_NUM_THREADS": str(threads)}
    import os

    out = subprocess.run(
        [sys.executable, "-c", _CHILD, spec, str(size), str(max_side)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env_threads},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
