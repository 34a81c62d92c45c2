"""The settings of the service itself: Label Studio, the server, models and images.

Declared once here (see :mod:`ml_backend.settings_spec`); :mod:`ml_backend.settings` derives
the ``Settings`` dataclass, ``from_env`` and the configuration table from them.
"""

from __future__ import annotations

from ml_backend.settings_spec import Setting, concern, csv, integer, number, one_of, path, text, url

SERVICE: list[Setting] = [
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
            "0.0.0.0",
            "Interface to listen on.",
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
            "8",
            "Threads per worker.",
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
]
