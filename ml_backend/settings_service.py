"""The settings of the service itself: Label Studio, the server, models and images.

Declared once here (see :mod:`ml_backend.settings_spec`); :mod:`ml_backend.settings` derives
the ``Settings`` dataclass, ``from_env`` and the configuration table from them.
"""

from __future__ import annotations

from ml_backend.settings_spec import (
    Setting,
    concern,
    csv,
    integer,
    number,
    one_of,
    path,
    pattern,
    text,
    url,
)

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
            "efficientnet-lite0",
            "Default classifier: a zoo name (`python -m model_zoo list`; the default is "
            "ImageNet-pretrained and ships offline), a local directory or a hub id "
            "(`org/name[@revision]`, `hf-hub:timm/<name>`). `tiny-*` entries are random, for tests.",
        ),
        Setting(
            "ZERO_SHOT_MODEL",
            "zero_shot_model",
            text(),
            "",
            "A CLIP model (zoo name `clip-vit-base-patch32`, a local directory or a hub id) whose "
            "zero-shot scores of the choice names pre-label `<Choices>` before a project's first "
            "trained version. Empty (the default, and the only choice offline): nothing is "
            "pre-labeled until the first round.",
        ),
        Setting(
            "SCORE_THRESHOLD",
            "score_threshold",
            number(0.0, 1.0),
            "0.5",
            "Minimum probability of a class of a multi-label classifier when its training round "
            "fitted no threshold of its own (the round fits one per class on its hold-out split; "
            "a tag's `model_score_threshold` replaces both).",
        ),
        Setting(
            "EXCLUSIVE_CLASSES",
            "exclusive_classes",
            csv(),
            "no_defect",
            'Classes that never stand beside another in a prediction ("No defect"): the most '
            "probable of the two wins, and no defect mask is drawn beside it. A tag's "
            "`model_exclusive` overrides it.",
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
]
