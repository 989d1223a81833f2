from __future__ import annotations

import os

import pytest
import trio
import trio.testing
from hypothesis import settings

# CI runs Hypothesis with a fixed seed, so a landing never depends on luck;
# locally every run explores new examples (and the database replays failures).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("EMUTCP_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["EMUTCP_HYPOTHESIS_PROFILE"])


@pytest.fixture
def mock_clock():
    """Virtual time: trio jumps to the next deadline whenever every task sleeps."""
    return trio.testing.MockClock(autojump_threshold=0)
