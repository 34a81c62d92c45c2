"""``python -m model_zoo COMMAND``: see :mod:`model_zoo.commands.cli`."""

from model_zoo.commands.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
