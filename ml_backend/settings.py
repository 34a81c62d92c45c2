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
        )
