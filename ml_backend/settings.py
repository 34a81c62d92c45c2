"""The one place that reads the environment.

Names follow the Label Studio ecosystem where one exists (``LABEL_STUDIO_URL``,
``LABEL_STUDIO_API_KEY``, ``BASIC_AUTH_USER`` …). ``SETTINGS`` documents every variable; the
README's configuration table is checked against it by the tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str
    fallbacks: tuple[str, ...] = ()


SETTINGS: dict[str, Setting] = {
    s.env: s
    for s in [
        Setting(
            "LABEL_STUDIO_URL",
            "",
            "Base URL of Label Studio as the backend reaches it (http://host:8080); needed to "
            "download uploaded and local-file images. Inside Docker, `localhost` is the container.",
            ("LABEL_STUDIO_HOST",),
        ),
        Setting(
            "LABEL_STUDIO_API_KEY",
            "",
            "Label Studio token: a legacy token or a personal access token (Account & Settings).",
            ("LABEL_STUDIO_ACCESS_TOKEN",),
        ),
        Setting(
            "BASIC_AUTH_USER", "", "If set with BASIC_AUTH_PASS, every route needs HTTP Basic auth."
        ),
        Setting("BASIC_AUTH_PASS", "", "Password for BASIC_AUTH_USER."),
        Setting("MODEL_DIR", "./data/models", "Where models, versions and caches are stored."),
        Setting("PORT", "9090", "HTTP port of the backend."),
        Setting("HOST", "0.0.0.0", "Interface to listen on."),
        Setting(
            "WORKERS", "1", "gunicorn worker processes (each holds its own copy of the models)."
        ),
        Setting("THREADS", "8", "Threads per worker."),
        Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR."),
        Setting("DEVICE", "auto", "auto (CUDA if visible), cpu, cuda or cuda:N."),
        Setting(
            "CLASSIFIER_MODEL",
            "tiny-vit",
            "Default classifier: a zoo name (`python -m model_zoo list`), a local directory or a "
            "hub id. Per project: `model_name` attribute of the Choices tag.",
        ),
        Setting(
            "SCORE_THRESHOLD",
            "0.5",
            "Default minimum probability for a choice in multi-label Choices "
            "(per tag: `model_score_threshold`).",
        ),
        Setting("PREDICT_BATCH_SIZE", "16", "Images per forward pass."),
        Setting(
            "ALLOWED_IMAGE_HOSTS",
            "",
            "Comma-separated hosts (or *.suffix) besides Label Studio's own that images may be "
            "downloaded from. Everything else is refused (no server-side request forgery).",
        ),
        Setting(
            "LOCAL_FILES_DOCUMENT_ROOT",
            "",
            "If the backend sees Label Studio's local-files root, /data/local-files/ images are "
            "read from disk instead of downloaded.",
        ),
        Setting("MAX_IMAGE_BYTES", str(50 * 1024 * 1024), "Largest image download, in bytes."),
        Setting("MAX_IMAGE_PIXELS", "100000000", "Largest image, in pixels (decompression bombs)."),
        Setting("IMAGE_TIMEOUT", "20", "Seconds allowed for one image download."),
        Setting("FETCH_THREADS", "8", "Images downloaded in parallel per request."),
        Setting(
            "REQUEST_TIMEOUT",
            "300",
            "gunicorn worker timeout in seconds (a /predict may take long).",
        ),
        Setting(
            "CAM_METHOD",
            "gradcam",
            "Class-activation-map method for defect BrushLabels: gradcam, gradcam++, xgradcam, "
            "layercam, eigencam, scorecam or hirescam (per tag: `model_cam_method`).",
        ),
        Setting(
            "CAM_THRESHOLD",
            "relative:0.5",
            "How a CAM becomes a mask: `relative:R` (share of the map's maximum), `fixed:T` "
            "(level of the [0, 1] map) or `otsu` (per tag: `model_cam_threshold`).",
        ),
        Setting(
            "CAM_MIN_AREA",
            "64",
            "Smallest CAM region kept, in original-image pixels (per tag: `model_min_area`).",
        ),
        Setting(
            "CAM_REFINE",
            "ridge",
            "CAM refinements joined with `+`: none, ridge (CAM-gated ridge filter for crack and "
            "net crack), superpixel, tta, advcam, sam (per tag: `model_refine`).",
        ),
        Setting(
            "CAM_LAYERS",
            "last",
            "CAM target layers: `last` (last feature map) or `multi` (it and two finer stages, "
            "fused) (per tag: `model_cam_layers`).",
        ),
        Setting(
            "CAM_INPUT_SIZE",
            "0",
            "Square input side of the shared classification + CAM pass; 0: the model's own. At "
            "another size the Choices get their own pass at the model's size (per tag: "
            "`model_cam_input_size`).",
        ),
        Setting(
            "SAM_CHECKPOINT",
            "",
            "Segment Anything checkpoint file (e.g. sam_vit_b_01ec64.pth) for the `sam` CAM "
            "refinement; without it `sam` is unavailable (noted in /health).",
        ),
        Setting(
            "SAM_MODEL_TYPE", "vit_b", "SAM architecture of SAM_CHECKPOINT: vit_b, vit_l or vit_h."
        ),
        Setting(
            "INTERACTIVE_SOURCE",
            "auto",
            "Mask source for interactive (smart tool) requests: sam (needs SAM_CHECKPOINT), "
            "fallback (superpixels and a crack ridge filter, no weights) or auto (sam when "
            "SAM_CHECKPOINT is set, else fallback). /health says which is in use.",
        ),
        Setting(
            "INTERACTIVE_CACHE_MB",
            "512",
            "Per-worker memory for cached image embeddings of interactive requests (LRU).",
        ),
        Setting(
            "CLIPSEG_MODEL",
            "clipseg-rd64-refined",
            "CLIPSeg model for Foreground/Background BrushLabels: a zoo name (`tiny-clipseg` "
            "offline), a local directory or a hub id. Per tag: `model_name`.",
        ),
        Setting(
            "CLIPSEG_ENSEMBLE",
            "E3",
            "Prompt-ensemble preset (E1, E2, E3) for labels without a `prompts` attribute. "
            "Per tag: `model_ensemble`.",
        ),
        Setting(
            "FOREGROUND_PROMPTS",
            "",
            "`;`-separated foreground prompts overriding the preset's (per label: `prompts`).",
        ),
        Setting(
            "BACKGROUND_PROMPTS",
            "",
            "`;`-separated background prompts overriding the preset's (per label: `prompts`).",
        ),
        Setting(
            "UNCERTAINTY_THRESHOLD",
            "0.5",
            "Pixels with ensemble uncertainty at or above this go to the Uncertain label. "
            "Per tag: `model_uncertainty_threshold`.",
        ),
        Setting(
            "TRAIN_AFTER_ANNOTATIONS",
            "10",
            "Train once this many annotations arrived since the last training.",
        ),
        Setting(
            "TRAIN_QUIET_SECONDS",
            "60",
            "...or once no annotation arrived for this many seconds (0: by count only).",
        ),
        Setting(
            "TRAIN_EPOCHS",
            "15",
            "Fine-tuning epochs per round (early stopping on the hold-out split).",
        ),
        Setting(
            "TRAIN_BLOCKS",
            "auto",
            "Fine-tuned part: head, all, auto (all for random backbones, else 2) or N top blocks.",
        ),
        Setting(
            "TRAIN_VAL_FRACTION",
            "0.2",
            "Share of labeled tasks held out for early stopping and metrics.",
        ),
        Setting(
            "KEEP_VERSIONS",
            "5",
            "Trained versions kept per project (the live one is never removed).",
        ),
        Setting(
            "REPREDICT_AFTER_TRAINING",
            "true",
            "After a new version, re-predict unlabeled tasks and push them to Label Studio.",
        ),
        Setting(
            "REDIS_URL",
            "",
            "If set, trainings run as RQ jobs on this Redis (`rq worker fm-inspect`), not in the web process.",
        ),
        Setting("RQ_QUEUE", "fm-inspect", "RQ queue name."),
        Setting(
            "LS_RETRIES", "5", "Attempts for a Label Studio API call before a training round fails."
        ),
        Setting(
            "LS_RETRY_SECONDS", "2", "First back-off delay between attempts (doubles each time)."
        ),
        Setting(
            "QUEUE_ORDERING",
            "true",
            "After each training round, rank the unlabeled tasks by ACQUISITION_STRATEGY and make "
            "Label Studio serve them in that order (sets the project's sampling and model_version).",
        ),
        Setting(
            "ACQUISITION_STRATEGY",
            "discriminator",
            "Queue order: discriminator, random, least-confidence, margin, entropy, bald, coreset, "
            "dal, a preset (minority-representative, minority-diverse) or names joined by * or +.",
        ),
        Setting(
            "MINORITY_CLASSES",
            "",
            "Comma-separated choices the discriminator treats as minority (empty: the rarest "
            "labeled class).",
        ),
        Setting(
            "ACQUISITION_BATCH_DIVERSITY",
            "50",
            "The first N tasks of the queue are picked for diversity (cluster-based top-k); 0: pure "
            "score order.",
        ),
    ]
}


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _read(env: Mapping[str, str], name: str) -> str:
    spec = SETTINGS[name]
    for key in (spec.env, *spec.fallbacks):
        value = env.get(key)
        if value is not None and value.strip() != "":
            return value.strip()
    return spec.default


def _int(env: Mapping[str, str], name: str, minimum: int = 0) -> int:
    raw = _read(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, low: float, high: float) -> float:
    raw = _read(env, name)
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = _read(env, name).lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = _read(env, name).lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    label_studio_url: str
    api_key: str
    basic_auth_user: str
    basic_auth_pass: str
    model_dir: Path
    port: int
    host: str
    workers: int
    threads: int
    log_level: str
    device: str
    classifier_model: str
    score_threshold: float
    predict_batch_size: int
    allowed_image_hosts: tuple[str, ...]
    local_files_root: str
    max_image_bytes: int
    max_image_pixels: int
    image_timeout: float
    fetch_threads: int
    request_timeout: int
    clipseg_model: str
    clipseg_ensemble: str
    foreground_prompts: str
    background_prompts: str
    uncertainty_threshold: float
    train_after_annotations: int
    train_quiet_seconds: float
    train_epochs: int
    train_blocks: str
    train_val_fraction: float
    keep_versions: int
    repredict_after_training: bool
    redis_url: str
    rq_queue: str
    ls_retries: int
    ls_retry_seconds: float
    queue_ordering: bool
    acquisition_strategy: str
    minority_classes: tuple[str, ...]
    acquisition_batch_diversity: int
    cam_method: str
    cam_threshold: str
    cam_min_area: int
    cam_refine: str
    cam_layers: str
    cam_input_size: int
    sam_checkpoint: str
    sam_model_type: str
    interactive_source: str
    interactive_cache_mb: int

    @property
    def basic_auth_enabled(self) -> bool:
        return bool(self.basic_auth_user and self.basic_auth_pass)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = _read(env, "LABEL_STUDIO_URL").rstrip("/")
        if url and not url.startswith(("http://", "https://")):
            raise SettingsError(
                f"LABEL_STUDIO_URL must start with http:// or https://, not {url!r}"
            )
        log_level = _read(env, "LOG_LEVEL").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(
                f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}"
            )
        hosts = tuple(
            h.strip().lower() for h in _read(env, "ALLOWED_IMAGE_HOSTS").split(",") if h.strip()
        )
        return cls(
            label_studio_url=url,
            api_key=_read(env, "LABEL_STUDIO_API_KEY"),
            basic_auth_user=_read(env, "BASIC_AUTH_USER"),
            basic_auth_pass=_read(env, "BASIC_AUTH_PASS"),
            model_dir=Path(_read(env, "MODEL_DIR")).expanduser(),
            port=_int(env, "PORT", 1),
            host=_read(env, "HOST"),
            workers=_int(env, "WORKERS", 1),
            threads=_int(env, "THREADS", 1),
            log_level=log_level,
            device=_read(env, "DEVICE"),
            classifier_model=_read(env, "CLASSIFIER_MODEL"),
            score_threshold=_float(env, "SCORE_THRESHOLD", 0.0, 1.0),
            predict_batch_size=_int(env, "PREDICT_BATCH_SIZE", 1),
            allowed_image_hosts=hosts,
            local_files_root=_read(env, "LOCAL_FILES_DOCUMENT_ROOT"),
            max_image_bytes=_int(env, "MAX_IMAGE_BYTES", 1),
            max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 1),
            image_timeout=_float(env, "IMAGE_TIMEOUT", 0.1, 3600.0),
            fetch_threads=_int(env, "FETCH_THREADS", 1),
            request_timeout=_int(env, "REQUEST_TIMEOUT", 1),
            cam_method=_read(env, "CAM_METHOD").lower(),
            cam_threshold=_read(env, "CAM_THRESHOLD").lower(),
            cam_min_area=_int(env, "CAM_MIN_AREA", 0),
            cam_refine=_read(env, "CAM_REFINE").lower(),
            cam_layers=_read(env, "CAM_LAYERS").lower(),
            cam_input_size=_int(env, "CAM_INPUT_SIZE", 0),
            sam_checkpoint=_read(env, "SAM_CHECKPOINT"),
            sam_model_type=_read(env, "SAM_MODEL_TYPE").lower(),
            interactive_source=_choice(env, "INTERACTIVE_SOURCE", ("auto", "sam", "fallback")),
            interactive_cache_mb=_int(env, "INTERACTIVE_CACHE_MB", 0),
            clipseg_model=_read(env, "CLIPSEG_MODEL"),
            clipseg_ensemble=_read(env, "CLIPSEG_ENSEMBLE").upper(),
            foreground_prompts=_read(env, "FOREGROUND_PROMPTS"),
            background_prompts=_read(env, "BACKGROUND_PROMPTS"),
            uncertainty_threshold=_float(env, "UNCERTAINTY_THRESHOLD", 0.0, 1.0),
            train_after_annotations=_int(env, "TRAIN_AFTER_ANNOTATIONS", 1),
            train_quiet_seconds=_float(env, "TRAIN_QUIET_SECONDS", 0.0, 7 * 86400.0),
            train_epochs=_int(env, "TRAIN_EPOCHS", 1),
            train_blocks=_read(env, "TRAIN_BLOCKS"),
            train_val_fraction=_float(env, "TRAIN_VAL_FRACTION", 0.0, 0.9),
            keep_versions=_int(env, "KEEP_VERSIONS", 1),
            repredict_after_training=_bool(env, "REPREDICT_AFTER_TRAINING"),
            redis_url=_read(env, "REDIS_URL"),
            rq_queue=_read(env, "RQ_QUEUE"),
            ls_retries=_int(env, "LS_RETRIES", 1),
            ls_retry_seconds=_float(env, "LS_RETRY_SECONDS", 0.0, 600.0),
            queue_ordering=_bool(env, "QUEUE_ORDERING"),
            acquisition_strategy=_read(env, "ACQUISITION_STRATEGY").lower(),
            minority_classes=tuple(
                c.strip() for c in _read(env, "MINORITY_CLASSES").split(",") if c.strip()
            ),
            acquisition_batch_diversity=_int(env, "ACQUISITION_BATCH_DIVERSITY", 0),
        )
