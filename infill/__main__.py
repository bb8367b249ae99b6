"""``python -m infill``: the same as the ``infill`` command (the git hook calls it this way)."""

import sys

from infill.cli import main

sys.exit(main())
