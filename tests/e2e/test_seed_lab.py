"""The seed document's experiment, end to end: XDP director, IPIP, direct replies."""

from __future__ import annotations

import io
import json

import pytest

from pyvs.lab.experiment import print_report, run_experiment
from pyvs.lab.netns import run
from pyvs.lab.seed import seed_topology

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]


def test_seed_lab() -> None:
    with seed_topology(reals=1) as lab:
        names = [ns.name for ns in lab.topology.namespaces.values()]
        report = run_experiment(lab)
        printed = io.StringIO()
        print_report(lab, report, printed)
        failed = [c.line() for c in report.checks if not c.passed]
        assert not failed, printed.getvalue()
        assert len(report.checks) == 4
        assert "served by 10.3.3.3" in report.curl_output
        assert "10.3.3.3" in report.listing
    listed = {entry["name"] for entry in json.loads(run(["ip", "-j", "netns", "list"]).stdout or "[]")}
    assert not set(names) & listed
