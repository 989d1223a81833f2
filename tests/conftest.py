from __future__ import annotations

import pytest
import trio
import trio.testing


@pytest.fixture
def mock_clock():
    """Virtual time: trio jumps to the next deadline whenever every task sleeps."""
    return trio.testing.MockClock(autojump_threshold=0)
