"""The one place that reads the environment: every setting declared once, grouped by concern.

Names follow the Label Studio ecosystem where one exists (``LABEL_STUDIO_URL``,
``LABEL_STUDIO_API_KEY``, ``BASIC_AUTH_USER`` …). ``SETTINGS`` declares each variable once (its
field, parser, default and help); the ``Settings`` dataclass, ``Settings.from_env`` and the
documentation's configuration table (``python -m ml_backend settings-table``) are derived from
it. How declarations work: :mod:`ml_backend.settings_spec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import make_dataclass
from typing import Any

from ml_backend.settings_spec import (
    Setting,
    SettingsError,
    boolean,
    concern,
    csv,
    integer,
    markdown_table,
    number,
    one_of,
    path,
    pattern,
    text,
    url,
)

__all__ = ["SETTINGS", "Settings", "SettingsError", "settings_table"]

_DECLARED: list[Setting] = [
    *concern(
        "Label Studio",
        Setting(
            "LABEL_STUDIO_URL",
            "label_studio_url",
            url(),
            "",
            "Base URL of Label Studio as the backend reaches it (`http://host:8080`); needed to "
            "download uploaded and local-file images. Inside Docker, `localhost` is the "
            "container.",
            fallbacks=("LABEL_STUDIO_HOST",),
        ),
        Setting(
            "LABEL_STUDIO_API_KEY",
            "api_key",
            text(),
            "",
            "Label Studio token: a legacy token or a personal access token.",
            fallbacks=("LABEL_STUDIO_ACCESS_TOKEN",),
        ),
        Setting(
            "LS_RETRIES",
            "ls_retries",
            integer(1),
            "5",
            "Attempts for a Label Studio API call before a round fails (and is retried later).",
        ),
        Setting(
            "LS_RETRY_SECONDS",
            "ls_retry_seconds",
            number(0.0, 600.0),
            "2",
            "First back-off delay between attempts; doubles each time.",
        ),
    ),
    *concern(
        "Server",
        Setting(
            "BASIC_AUTH_USER",
            "basic_auth_user",
            text(),
            "",
            "If set with `BASIC_AUTH_PASS`, every route needs HTTP Basic auth.",
        ),
        Setting(
            "BASIC_AUTH_PASS",
            "basic_auth_pass",
            text(),
            "",
            "Password for `BASIC_AUTH_USER`.",
        ),
        Setting(
            "PORT",
            "port",
            integer(1),
            "9090",
            "HTTP port.",
        ),
        Setting(
            "HOST",
            "host",
            text(),
            "",
            "Interface to listen on. Empty: `127.0.0.1` (loopback only) unless basic auth is set, "
            "then `0.0.0.0`. Any other interface without basic auth is logged loudly at start-up "
            "as an open backend (see [security](security.md)).",
        ),
        Setting(
            "WORKERS",
            "workers",
            integer(1),
            "1",
            "gunicorn worker processes (each holds its own copy of the models).",
        ),
        Setting(
            "THREADS",
            "threads",
            integer(1),
            "32",
            "Threads per worker (gthread). A client that sends its body slowly holds one thread, "
            "so keep this well above the number of slow clients; predictions themselves are "
            "limited by `PREDICT_CONCURRENCY`.",
        ),
        Setting(
            "PREDICT_CONCURRENCY",
            "predict_concurrency",
            integer(1),
            "4",
            "Prediction requests a worker runs at once; more wait their turn. With "
            "`PREDICT_PIXEL_BUDGET` it bounds the memory of decoded images per worker.",
        ),
        Setting(
            "PROJECT_ID_PATTERN",
            "project_id_pattern",
            pattern(),
            "",
            'Besides Label Studio\'s numeric project ids (`3`, `"3.1700000000"`), the ids a '
            "request may name (a Python regular expression matched in full; letters, digits, `_` "
            "and `-` only). Anything else is refused with 400 before it reaches the model store.",
        ),
        Setting(
            "REQUEST_TIMEOUT",
            "request_timeout",
            integer(1),
            "300",
            "gunicorn worker timeout, seconds.",
        ),
        Setting(
            "LOG_LEVEL",
            "log_level",
            one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
            "INFO",
            "`DEBUG`, `INFO`, `WARNING` or `ERROR`.",
        ),
    ),
    *concern(
        "Models",
        Setting(
            "MODEL_DIR",
            "model_dir",
            path(),
            "./data/models",
            "Where models, versions and caches are stored; `MODEL_DIR/zoo/<name>/` holds offline "
            "copies of zoo weights.",
        ),
        Setting(
            "DEVICE",
            "device",
            text(),
            "auto",
            "`auto` (CUDA if visible), `cpu`, `cuda` or `cuda:N`.",
        ),
        Setting(
            "CLASSIFIER_MODEL",
            "classifier_model",
            text(),
            "tiny-vit",
            "Default classifier: a zoo name (`python -m model_zoo list`), a local directory or a "
            "hub id (`org/name[@revision]`).",
        ),
        Setting(
            "SCORE_THRESHOLD",
            "score_threshold",
            number(0.0, 1.0),
            "0.5",
            "Default minimum probability of a choice in multi-label `<Choices>`.",
        ),
        Setting(
            "PREDICT_BATCH_SIZE",
            "predict_batch_size",
            integer(1),
            "16",
            "Images per forward pass.",
        ),
        Setting(
            "ALLOWED_HUB_MODELS",
            "allowed_hub_models",
            pattern(),
            "",
            "A regular expression (matched in full) of hub ids a label config's `model_name` may "
            "load, e.g. `facebook/.*|google/vit-.*`. Zoo names, folders under `MODEL_DIR` and the "
            "models set here (`CLASSIFIER_MODEL`, `CLIPSEG_MODEL`) are always allowed; anything "
            "else is refused at `/setup`.",
        ),
        Setting(
            "ALLOWED_MODEL_DIRS",
            "allowed_model_dirs",
            csv(),
            "",
            "Comma-separated folders, besides `MODEL_DIR`, whose models a label config's "
            "`model_name` may load (symlinks resolved before the check).",
        ),
        Setting(
            "MODEL_CACHE_BYTES",
            "model_cache_bytes",
            integer(1),
            str(2 * 1024**3),
            "Memory for loaded models per worker (parameters and buffers, in bytes); the least "
            "recently used model is unloaded beyond it and loads again when next asked for.",
        ),
    ),
    *concern(
        "Images",
        Setting(
            "ALLOWED_IMAGE_HOSTS",
            "allowed_image_hosts",
            csv(lower=True),
            "",
            "Comma-separated hosts (or `*.suffix`) besides Label Studio's own that images may be "
            "downloaded from. Everything else is refused.",
        ),
        Setting(
            "LOCAL_FILES_DOCUMENT_ROOT",
            "local_files_root",
            text(),
            "",
            "If the backend sees Label Studio's local-files root, `/data/local-files/` images are "
            "read from disk instead of downloaded.",
        ),
        Setting(
            "MAX_IMAGE_BYTES",
            "max_image_bytes",
            integer(1),
            str(50 * 1024 * 1024),
            "Largest image download, in bytes.",
        ),
        Setting(
            "MAX_IMAGE_PIXELS",
            "max_image_pixels",
            integer(1),
            "100000000",
            "Largest image, in pixels (decompression bombs).",
        ),
        Setting(
            "PREDICT_PIXEL_BUDGET",
            "predict_pixel_budget",
            integer(1),
            "100000000",
            "Most decoded pixels one prediction request holds at a time: its tasks are decoded "
            "and predicted in groups within this budget, each group released before the next.",
        ),
        Setting(
            "IMAGE_TIMEOUT",
            "image_timeout",
            number(0.1, 3600.0),
            "20",
            "Seconds allowed for one image download.",
        ),
        Setting(
            "FETCH_THREADS",
            "fetch_threads",
            integer(1),
            "8",
            "Images downloaded in parallel per request.",
        ),
    ),
    *concern(
        "Defect masks learned from submitted masks (segmentation)",
        Setting(
            "SEGMENTATION_ENCODER",
            "segmentation_encoder",
            text(),
            "efficientnet_lite0",
            "Encoder of the segmentation model learned from submitted `<BrushLabels>` masks: "
            "`efficientnet_lite0` (packaged ImageNet weights) or `tiny-random`. Per tag: "
            "`model_mask_source` (auto/cam/segmentation) and `model_mm_per_pixel`.",
        ),
        Setting(
            "SEGMENTATION_EPOCHS",
            "segmentation_epochs",
            integer(1),
            "30",
            "Most epochs of one segmentation training round (early stopping on hold-out IoU).",
        ),
        Setting(
            "SEGMENTATION_INPUT_SIZE",
            "segmentation_input_size",
            integer(32),
            "256",
            "Square side (a multiple of 32) images are resized to for the segmentation model.",
        ),
        Setting(
            "SEGMENTATION_MIN_MASKS",
            "segmentation_min_masks",
            integer(2),
            "10",
            "Fewest masked images a round needs to train the segmentation model.",
        ),
    ),
    *concern(
        "Defect masks (CAM)",
        Setting(
            "CAM_METHOD",
            "cam_method",
            text(str.lower),
            "gradcam",
            "CAM method for defect `<BrushLabels>`: `gradcam`, `gradcam++`, `xgradcam`, "
            "`layercam`, `eigencam`, `scorecam`, `hirescam`. Per tag: `model_cam_method`.",
        ),
        Setting(
            "CAM_THRESHOLD",
            "cam_threshold",
            text(str.lower),
            "relative:0.5",
            "CAM -> mask: `relative:R` (share of the map's maximum), `fixed:T` (level of the [0, "
            "1] map) or `otsu`. Per tag: `model_cam_threshold`.",
        ),
        Setting(
            "CAM_MIN_AREA",
            "cam_min_area",
            integer(0),
            "64",
            "Smallest CAM region kept, in original-image pixels. Per tag: `model_min_area`.",
        ),
        Setting(
            "CAM_REFINE",
            "cam_refine",
            text(str.lower),
            "ridge",
            "CAM refinements joined with `+`: none, ridge (CAM-gated ridge filter for crack and "
            "net crack), superpixel, tta, advcam, sam (per tag: `model_refine`).",
        ),
        Setting(
            "CAM_LAYERS",
            "cam_layers",
            text(str.lower),
            "last",
            "CAM target layers: `last` (last feature map) or `multi` (it and two finer stages, "
            "fused) (per tag: `model_cam_layers`).",
        ),
        Setting(
            "CAM_INPUT_SIZE",
            "cam_input_size",
            integer(0),
            "0",
            "Square input side of the shared classification + CAM pass; 0: the model's own. At "
            "another size the Choices get their own pass at the model's size (per tag: "
            "`model_cam_input_size`).",
        ),
        Setting(
            "SAM_CHECKPOINT",
            "sam_checkpoint",
            text(),
            "",
            "Segment Anything checkpoint (e.g. `sam_vit_b_01ec64.pth`) for the `sam` refinement; "
            "without it `sam` is refused at `/setup` and `/health` has a note.",
        ),
        Setting(
            "SAM_MODEL_TYPE",
            "sam_model_type",
            text(str.lower),
            "vit_b",
            "SAM architecture of `SAM_CHECKPOINT`: `vit_b`, `vit_l` or `vit_h`.",
        ),
    ),
    *concern(
        "Interactive masks",
        Setting(
            "INTERACTIVE_SOURCE",
            "interactive_source",
            one_of("auto", "sam", "fallback", transform=str.lower),
            "auto",
            "Mask source for smart-tool clicks and boxes: `sam` (needs `SAM_CHECKPOINT`), "
            "`fallback` (superpixels and a crack ridge filter, no weights) or `auto` (`sam` when "
            "`SAM_CHECKPOINT` is set). See [interactive masks](interactive.md).",
        ),
        Setting(
            "INTERACTIVE_CACHE_MB",
            "interactive_cache_mb",
            integer(0),
            "512",
            "Per-worker memory for cached image embeddings of interactive requests (LRU).",
        ),
    ),
    *concern(
        "Foreground masks (CLIPSeg)",
        Setting(
            "CLIPSEG_MODEL",
            "clipseg_model",
            text(),
            "clipseg-rd64-refined",
            "CLIPSeg for Foreground/Background `<BrushLabels>`: a zoo name (`tiny-clipseg` "
            "offline), a local directory or a hub id (`CIDAS/clipseg-rd64-refined@<revision>`). "
            "Per tag: `model_name`.",
        ),
        Setting(
            "CLIPSEG_ENSEMBLE",
            "clipseg_ensemble",
            text(str.upper),
            "E3",
            "Prompt-ensemble preset (`E1`, `E2`, `E3`) for labels without a `prompts` attribute. "
            "Per tag: `model_ensemble`.",
        ),
        Setting(
            "FOREGROUND_PROMPTS",
            "foreground_prompts",
            text(),
            "",
            "`;`-separated foreground prompts replacing the preset's (a label's `prompts` "
            "attribute wins).",
        ),
        Setting(
            "BACKGROUND_PROMPTS",
            "background_prompts",
            text(),
            "",
            "`;`-separated background prompts replacing the preset's (a label's `prompts` "
            "attribute wins).",
        ),
        Setting(
            "UNCERTAINTY_THRESHOLD",
            "uncertainty_threshold",
            number(0.0, 1.0),
            "0.5",
            "Pixels whose ensemble uncertainty is at least this go to the `Uncertain` label. Per "
            "tag: `model_uncertainty_threshold`.",
        ),
    ),
    *concern(
        "Training",
        Setting(
            "TRAIN_AFTER_ANNOTATIONS",
            "train_after_annotations",
            integer(1),
            "10",
            "Train once this many annotation events arrived since the last round.",
        ),
        Setting(
            "TRAIN_QUIET_SECONDS",
            "train_quiet_seconds",
            number(0.0, 7 * 86400.0),
            "60",
            "\u2026or once no annotation arrived for this long (`0`: by count only).",
        ),
        Setting(
            "TRAIN_EPOCHS",
            "train_epochs",
            integer(1),
            "15",
            "Fine-tuning epochs per round (early stopping on the hold-out split).",
        ),
        Setting(
            "TRAIN_BLOCKS",
            "train_blocks",
            text(),
            "auto",
            "What is fine-tuned after the head: `head`, `all`, `N` top blocks, or `auto` (all for "
            "random backbones, else 2).",
        ),
        Setting(
            "TRAIN_VAL_FRACTION",
            "train_val_fraction",
            number(0.0, 0.9),
            "0.2",
            "Share of labeled tasks held out for early stopping and metrics.",
        ),
        Setting(
            "KEEP_VERSIONS",
            "keep_versions",
            integer(1),
            "5",
            "Trained versions kept per project (the live one is never removed).",
        ),
        Setting(
            "TRAIN_WORKERS",
            "train_workers",
            integer(1),
            "2",
            "Threads of this process that run jobs (training rounds, re-predictions, queue rounds, "
            "bulk pre-labels) when `REDIS_URL` is unset; with it, `rq worker` processes run them.",
        ),
        Setting(
            "TRAIN_MAX_PENDING",
            "train_max_pending",
            integer(1),
            "64",
            "Most projects the training scheduler tracks at once (counting annotations, waiting "
            "or training); an event for one more project is answered 429 until one finishes.",
        ),
        Setting(
            "REPREDICT_AFTER_TRAINING",
            "repredict_after_training",
            boolean(),
            "true",
            "After a new version, re-predict the unlabeled tasks and push them to Label Studio.",
        ),
    ),
    *concern(
        "Jobs (RQ)",
        Setting(
            "REDIS_URL",
            "redis_url",
            text(),
            "",
            "If set, training rounds and bulk pre-label chunks are RQ jobs on this Redis, run by "
            "`rq worker fm-inspect` "
            "(see docker-compose).",
        ),
        Setting(
            "RQ_QUEUE",
            "rq_queue",
            text(),
            "fm-inspect",
            "RQ queue name.",
        ),
        Setting(
            "PRELABEL_CHUNK_SIZE",
            "prelabel_chunk_size",
            integer(1),
            "32",
            "Tasks per chunk of a bulk pre-label job: one predict batch and one bulk import each "
            "([Bulk pre-label jobs](bulk-jobs.md)).",
        ),
        Setting(
            "PRELABEL_CHUNK_TIMEOUT",
            "prelabel_chunk_timeout",
            integer(5),
            "600",
            "Seconds an RQ worker may spend on one chunk (then it is stopped and retried); a "
            "worker that died is noticed once this has passed.",
        ),
        Setting(
            "JOB_HEARTBEAT_SECONDS",
            "job_heartbeat_seconds",
            integer(1),
            "10",
            "How often an RQ worker started with `--worker-class "
            "ml_backend.jobs.rq_worker.HeartbeatWorker` confirms that it still runs its job; a job "
            "whose worker died is re-queued once three beats are missed.",
        ),
    ),
    *concern(
        "Queue ordering",
        Setting(
            "QUEUE_ORDERING",
            "queue_ordering",
            boolean(),
            "true",
            "After each training round, rank the unlabeled tasks by `ACQUISITION_STRATEGY` and "
            "make Label Studio serve them in that order ([Queue ordering](queue-ordering.md)). "
            "Sets the project's sampling and `model_version`.",
        ),
        Setting(
            "ACQUISITION_STRATEGY",
            "acquisition_strategy",
            text(str.lower),
            "discriminator",
            "`discriminator`, `random`, `least-confidence`, `margin`, `entropy`, `bald`, "
            "`coreset`, `dal`, a preset (`minority-representative` = `discriminator*dal`, "
            "`minority-diverse` = `discriminator*coreset`) or names joined by `*` (product of "
            "ranks) or `+` (mean).",
        ),
        Setting(
            "MINORITY_CLASSES",
            "minority_classes",
            csv(),
            "",
            "Comma-separated choices the discriminator treats as minority; empty: the rarest "
            "labeled class. Unknown names are reported and ignored.",
        ),
        Setting(
            "SYNTHETIC_DIR",
            "synthetic_dir",
            text(),
            "",
            "A folder written by `python -m model_zoo generate` (docs/diffusion.md): its images "
            "join the training part (never the hold-out) of minority choices (`MINORITY_CLASSES`, "
            "else those with under half the labels of the largest); the version records how many.",
        ),
        Setting(
            "ACQUISITION_BATCH_DIVERSITY",
            "acquisition_batch_diversity",
            integer(0),
            "50",
            "The first N queue positions are picked for diversity (cluster-based top-k); `0`: "
            "pure score order.",
        ),
    ),
]

SETTINGS: dict[str, Setting] = {s.env: s for s in _DECLARED}


def _from_env(cls, env: Mapping[str, str] | None = None) -> Any:
    """Read every setting from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    return cls(**{s.field: s.read(env) for s in SETTINGS.values()})


def _basic_auth_enabled(self) -> bool:
    return bool(self.basic_auth_user and self.basic_auth_pass)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _bind_host(self) -> str:
    """``HOST``, or when it is empty: loopback without basic auth, every interface with it."""
    if self.host:
        return self.host
    return "0.0.0.0" if self.basic_auth_enabled else "127.0.0.1"


def _is_open(self) -> bool:
    """Whether anyone who reaches the port may use every route (no auth, not loopback)."""
    return not self.basic_auth_enabled and self.bind_host not in LOOPBACK_HOSTS


Settings = make_dataclass(
    "Settings",
    [(s.field, s.parser.kind) for s in SETTINGS.values()],
    frozen=True,
    namespace={
        "__doc__": "The backend's settings, one field per entry of SETTINGS.",
        "__module__": __name__,
        "from_env": classmethod(_from_env),
        "basic_auth_enabled": property(_basic_auth_enabled),
        "bind_host": property(_bind_host),
        "is_open": property(_is_open),
    },
)


def settings_table() -> str:
    """The Markdown configuration table (docs/configuration.md, between its markers)."""
    return markdown_table(SETTINGS.values())


TABLE_START = "<!-- settings-table:start"
TABLE_END = "<!-- settings-table:end -->"


def with_settings_table(page: str) -> str:
    """``page`` with the text between its settings-table markers replaced by the table."""
    start = page.find(TABLE_START)
    end = page.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {TABLE_START} ... {TABLE_END} markers")
    head = page[: page.index("\n", start) + 1]
    return f"{head}\n{settings_table()}\n{page[end:]}"
