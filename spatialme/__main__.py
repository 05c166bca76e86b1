"""``python -m spatialme``: see :mod:`spatialme.cli`."""

import sys

from .cli import main

sys.exit(main())
