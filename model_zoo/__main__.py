"""``python -m model_zoo COMMAND``: see :mod:`model_zoo.cli`."""

from model_zoo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
