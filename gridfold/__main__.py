"""``python -m gridfold``: the ``gridfold`` command."""

from __future__ import annotations

import sys

from gridfold.cli import main

if __name__ == "__main__":
    sys.exit(main())
