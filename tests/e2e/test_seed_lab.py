"""The seed document's experiment, end to end: the director (XDP, or the live Python
data plane), IPIP, direct replies; the same evidence holds for both."""

from __future__ import annotations

import io
import json

import pytest

from pyvs.lab.experiment import print_report, run_experiment
from pyvs.lab.netns import run
from pyvs.lab.seed import DATAPLANES, seed_topology
from tests.capabilities import require

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]


@pytest.mark.parametrize("dataplane", DATAPLANES, ids=[f"dataplane={d}" for d in DATAPLANES])
def test_seed_lab(dataplane: str) -> None:
    if dataplane == "python":
        require("needs_nft")
    with seed_topology(reals=1, dataplane=dataplane) as lab:
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
