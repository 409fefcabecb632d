"""The emulators' and the local inbox's own tests carry the `emulator` marker: `make test` runs
them, the quick loop (`make test-fast`) leaves them out."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.emulator)
