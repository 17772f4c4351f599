"""``python -m rbfopt``: the ``rbfopt`` command."""

import sys

from .app.cli import main

sys.exit(main())
