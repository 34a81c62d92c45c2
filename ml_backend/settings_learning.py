"""The settings of learning from annotations: training rounds, jobs and queue ordering.

Declared once here (see :mod:`ml_backend.settings_spec`); :mod:`ml_backend.settings` derives
the ``Settings`` dataclass, ``from_env`` and the configuration table from them.
"""

from __future__ import annotations

from ml_backend.settings_spec import Setting, boolean, concern, csv, integer, number, text

LEARNING: list[Setting] = [
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
            "TRAIN_MIN_PER_CLASS",
            "train_min_per_class",
            integer(1),
            "3",
            "The first round waits until at least two classes have this many labeled images each; "
            "until then nothing is pre-labeled and `/health` says how many labels are missing.",
        ),
        Setting(
            "FINETUNE_MIN_LABELS",
            "finetune_min_labels",
            integer(0),
            "40",
            "Each round first serves a linear head fitted in seconds on the frozen backbone's "
            "features; from this many labeled images on, the round then fine-tunes the top "
            "blocks too and serves that only if it scores better on the hold-out split.",
        ),
        Setting(
            "TRAIN_EPOCHS",
            "train_epochs",
            integer(1),
            "5",
            "Fine-tuning epochs per round after the linear probe (early stopping on the hold-out "
            "split).",
        ),
        Setting(
            "TRAIN_INPUT_SIZE",
            "train_input_size",
            integer(0),
            "0",
            "Side, in pixels, images are resized to for fine-tuning and for the trained version's "
            "predictions; `0`: the model's own (224 for `efficientnet-lite0`). CNNs take any "
            "size >= 32; ViTs keep their own.",
        ),
        Setting(
            "TRAIN_BLOCKS",
            "train_blocks",
            text(),
            "auto",
            "What is fine-tuned after the linear probe: `head`, `all`, `N` top blocks, or `auto` "
            "(all for random backbones, else the top 2 blocks).",
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
            "minority-split",
            "`minority-split` (part of each round to the minority discriminator, the rest to "
            "diverse margin sampling, the split adapted from round to round), `discriminator`, "
            "`random`, `least-confidence`, `margin`, `entropy`, `bald`, `coreset`, `dal`, "
            "`typiclust`, a preset (`minority-representative` = `discriminator*dal`, "
            "`minority-diverse` = `discriminator*coreset`) or names joined by `*` (product of "
            "ranks) or `+` (mean).",
        ),
        Setting(
            "MINORITY_CLASSES",
            "minority_classes",
            csv(),
            "",
            "Comma-separated choices the discriminator treats as minority; empty: every choice "
            "under `MINORITY_SHARE` of the project, else the rarest labeled class. Unknown names "
            "are reported and ignored.",
        ),
        Setting(
            "MINORITY_SHARE",
            "minority_share",
            number(0.0, 0.5),
            "0.05",
            "Without `MINORITY_CLASSES`: every choice whose estimated share of the project "
            "(labels, and the classifier's probabilities on the unlabeled tasks) is below this "
            "counts as minority; `0`: only the rarest labeled class.",
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
