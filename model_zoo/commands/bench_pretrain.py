"""``python -m model_zoo bench-pretrain``: MAE pretraining throughput and peak memory.

Times full training steps (masked forward, reconstruction loss, backward, AdamW) of
``ViTMAEForPreTraining`` from scratch on random images, for the CPU default ("small", the
architecture of ``fm-concrete-small``) and a ViT-Base-sized model ("base", MAE paper decoder).
Each preset runs in its own process so that its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

from model_zoo.table import format_table


def measure(preset: str, batch: int, steps: int, warmup: int, mask_ratio: float) -> dict:
    import torch
    from transformers import ViTMAEForPreTraining

    from model_zoo.pretrain.configs import PRESETS, encoder_config, mae_config_from_vit

    torch.manual_seed(0)
    config = mae_config_from_vit(encoder_config(preset), preset, mask_ratio)
    model = ViTMAEForPreTraining(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    size = PRESETS[preset]["image_size"]
    x = torch.randn(batch, 3, size, size)
    times = []
    for i in range(warmup + steps):
        started = time.perf_counter()
        loss = model(pixel_values=x).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - started)
    seconds = sum(times) / len(times)
    return {
        "preset": preset,
        "image_size": size,
        "patch_size": PRESETS[preset]["patch_size"],
        "encoder_params_m": round(sum(p.numel() for p in model.vit.parameters()) / 1e6, 2),
        "total_params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "batch": batch,
        "mask_ratio": mask_ratio,
        "steps": steps,
        "seconds_per_step": round(seconds, 4),
        "images_per_s": round(batch / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "threads": torch.get_num_threads(),
    }


_HEADERS = {
    "encoder_params_m": "encoder params (M)",
    "total_params_m": "total params (M)",
    "seconds_per_step": "s/step",
    "images_per_s": "images/s",
    "peak_rss_mb": "peak RSS (MB)",
}
_DIGITS = {
    "encoder_params_m": 2,
    "total_params_m": 2,
    "seconds_per_step": 3,
    "images_per_s": 1,
    "peak_rss_mb": 0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", default="small,base", help="comma-separated presets")
    parser.add_argument("--batch", default="64,16", help="batch per preset (or one for all)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per preset")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--json", default=None, help="also write the rows as JSON")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process mode


def run(args: argparse.Namespace) -> int:
    if args.one:
        row = measure(args.one, int(args.batch), args.steps, args.warmup, args.mask_ratio)
        print(json.dumps(row))
        return 0
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    batches = [int(b) for b in str(args.batch).split(",")]
    batches = batches * len(presets) if len(batches) == 1 else batches
    if len(batches) != len(presets):
        print("bench-pretrain: give one --batch, or one per preset", file=sys.stderr)
        return 2
    rows = []
    for preset, batch in zip(presets, batches, strict=True):
        command = [sys.executable, "-m", "model_zoo", "--log-level", "WARNING", "bench-pretrain"]
        command += ["--one", preset, "--batch", str(batch), "--steps", str(args.steps)]
        command += ["--warmup", str(args.warmup), "--mask-ratio", str(args.mask_ratio)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(f"bench-pretrain: {preset} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"MAE pretraining, CPU ({platform.processor() or platform.machine()}, "
        f"{rows[0]['threads'] if rows else '?'} threads), mask ratio {args.mask_ratio}"
    )
    table = [
        {
            "preset": r["preset"],
            "input": f"{r['image_size']} px / patch {r['patch_size']}",
            "encoder_params_m": r["encoder_params_m"],
            "total_params_m": r["total_params_m"],
            "batch": r["batch"],
            "seconds_per_step": r["seconds_per_step"],
            "images_per_s": r["images_per_s"],
            "peak_rss_mb": r["peak_rss_mb"],
        }
        for r in rows
    ]
    print(format_table(table, digits=_DIGITS, headers=_HEADERS))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0
