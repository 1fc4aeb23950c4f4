"""``python -m interp``: see :mod:`interp.cli`."""

import sys

from interp.cli import main

if __name__ == "__main__":
    sys.exit(main())
