"""Markers for tests that need root, namespaces, BPF or clang (see tests/capabilities.py).

Mark a test or module with `pytest.mark.needs_root`, `needs_netns`, `needs_bpf`
or `needs_clang`. Before it runs, the matching probe decides: skip with the
reason, or, when the environment variable CI is set, fail with it.
"""

from __future__ import annotations

import os

import pytest

from tests.capabilities import DESCRIPTIONS, PROBES, require


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true",
                     help="long runs: the differential test on 1,000,000 frames instead of about 40,000, "
                          "the fuzz test on 1,000,000 instead of 20,000")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--long"):
        os.environ["PYVS_DIFF_EXAMPLES"] = "40000"
        os.environ["PYVS_DIFF_FRAMES"] = "25"
        os.environ["PYVS_FUZZ_FRAMES"] = "1000000"
    for name, text in DESCRIPTIONS.items():
        config.addinivalue_line("markers", f"{name}: {text}; skipped without it, failed in CI")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in PROBES:
        if item.get_closest_marker(name) is not None:
            require(name)
