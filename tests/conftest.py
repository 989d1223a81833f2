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


def pytest_sessionstart(session: pytest.Session) -> None:
    # tests/test_compiled.py reruns tests against a mypyc-compiled tree and
    # must know that it really got the compiled build, not the pure one.
    if os.environ.get("EMUTCP_EXPECT_COMPILED"):
        import emutcp

        assert emutcp.COMPILED, f"expected the compiled build, imported {emutcp.__file__}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import emutcp

    if not emutcp.COMPILED:
        return
    # A mypyc-compiled class cannot be patched; these tests run on the pure build.
    skip = pytest.mark.skip(reason="patches core classes; runs on the pure-Python build")
    for item in items:
        if "patches_core" in item.keywords:
            item.add_marker(skip)
