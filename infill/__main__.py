"""``python -m infill``: the same as the ``infill`` command (the git hook calls it this way)."""

from infill.cli import entry

entry()
