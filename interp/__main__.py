"""``python -m interp``: see :mod:`interp.cli`."""

import sys

from interp.cli import main

sys.exit(main())
