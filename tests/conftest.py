"""Shared fixtures. A hung test dumps every thread's stack before the timeout kills it."""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator

import pytest

HANG_SECONDS = 240


@pytest.fixture(autouse=True)
def _dump_stacks_if_hung() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=False, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()
