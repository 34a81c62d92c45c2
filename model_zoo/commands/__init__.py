"""Command-line modules of ``python -m model_zoo``: each has ``add_arguments`` and ``run``."""
