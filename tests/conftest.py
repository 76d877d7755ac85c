"""Markers for tests that need root, namespaces, BPF or clang (see tests/capabilities.py).

Mark a test or module with `pytest.mark.needs_root`, `needs_netns`, `needs_bpf`
or `needs_clang`. Before it runs, the matching probe decides: skip with the
reason, or, when the environment variable CI is set, fail with it.
"""

from __future__ import annotations

import pytest

from tests.capabilities import DESCRIPTIONS, PROBES, require


def pytest_configure(config: pytest.Config) -> None:
    for name, text in DESCRIPTIONS.items():
        config.addinivalue_line("markers", f"{name}: {text}; skipped without it, failed in CI")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in PROBES:
        if item.get_closest_marker(name) is not None:
            require(name)
