"""`pyvs bench --smoke`: every section once, through the command a user types.

One run (about two minutes) writes the JSON; each test below reads what one
section measured and checks what must hold whatever the machine's speed:
the figures are there with their baselines, the measured cases did what
they should (every frame arrived, both real servers answered, no packet was
lost to weight changes). Timings are never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyvs.bench import http
from pyvs.lab.commands import pyvs_argv, pyvs_env

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf,
              pytest.mark.needs_clang, pytest.mark.needs_nft, pytest.mark.needs_bench_tools]

REAL1, REAL2 = "10.3.3.3", "10.3.3.4"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("bench") / "latest.json"
    done = subprocess.run([*pyvs_argv(), "bench", "--smoke", "--output", str(output)], env=pyvs_env(),
                          capture_output=True, text=True, timeout=900, check=False)
    sys.stderr.write(done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| section | figure | unit | min | median | max | vs baseline |" in done.stdout
    assert output.with_suffix(".md").read_text().startswith("```sh\npyvs bench --smoke")
    doc: dict[str, Any] = json.loads(output.read_text())
    return doc


def figures(doc: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in doc["figures"] if f["section"] == section}


def test_header_and_every_baseline_measured(results: dict[str, Any]) -> None:
    assert results["smoke"] is True and results["reps"] == 1
    assert results["machine"]["cores"] >= 1 and results["machine"]["kernel"]
    by_section: dict[str, set[str]] = {}
    for fig in results["figures"]:
        by_section.setdefault(fig["section"], set()).add(fig["name"])
    assert set(by_section) == {"per-packet cost", "packet rate", "HTTP", "control plane"}
    for fig in results["figures"]:
        assert len(fig["samples"]) == 1
        assert fig["min"] <= fig["median"] <= fig["max"]
        if fig["baseline"] is not None:
            assert fig["baseline"] in by_section[fig["section"]]


def test_per_packet_cost(results: dict[str, Any]) -> None:
    figs = figures(results, "per-packet cost")
    assert len(figs) >= 6
    for fig in figs.values():
        assert fig["median"] > 0
        if fig["baseline"] is not None:
            assert fig["ratio_to_baseline"] > 0


def test_packet_rate_lost_nothing_on_the_xdp_and_kernel_paths(results: dict[str, Any]) -> None:
    figs = figures(results, "packet rate")
    assert len(figs) == 3
    for name, fig in figs.items():
        assert fig["median"] > 0, name
        if not name.startswith("live Python"):
            assert fig["extra"]["lost"] == [0], name
    # Through pyvs every frame was decapsulated at the real server; the baseline bypasses pyvs.
    xdp = figs["XDP director -> decap (pyvs)"]["extra"]
    assert xdp["decap_packets"] == xdp["received"] and xdp["received"][0] > 0
    assert figs["kernel forwarding (no pyvs)"]["extra"]["decap_packets"] == [0]


def test_http_went_to_both_real_servers_through_the_vip(results: dict[str, Any]) -> None:
    figs = figures(results, "HTTP")
    assert list(figs) == [http.DIRECT_KEEPALIVE, http.VIP_KEEPALIVE, http.DIRECT_NEW_CONN, http.VIP_NEW_CONN]
    for name in (http.VIP_KEEPALIVE, http.VIP_NEW_CONN):
        served = figs[name]["extra"]["requests_by_real"]
        assert served[REAL1][0] > 0 and served[REAL2][0] > 0
    for name in (http.DIRECT_KEEPALIVE, http.DIRECT_NEW_CONN):
        assert figs[name]["extra"]["requests_by_real"][REAL2] == [0]
    new_conn = figs[http.VIP_NEW_CONN]["extra"]
    assert new_conn["connections"][0] >= new_conn["requests"][0]  # one request per connection
    assert figs[http.VIP_KEEPALIVE]["extra"]["connections"][0] <= 2 * http.WRK_CONNECTIONS


def test_control_plane(results: dict[str, Any]) -> None:
    figs = figures(results, "control plane")
    restores = [f for name, f in figs.items() if name.startswith("pyvsadm -R: ")]
    assert restores and all(f["median"] > 0 for f in restores)
    maglev = [f for name, f in figs.items() if name.startswith("Maglev")]
    assert maglev and all(f["median"] > 0 for f in maglev)
    lost = figs["weight changes under flood"]
    assert lost["samples"] == [0] and lost["extra"]["sent"][0] > 0
    assert figs["steady flood, no changes"]["samples"] == [0]
    expired = figs["flow sweep: full table, every flow expired"]
    assert expired["baseline"] == "flow sweep: empty table" and expired["median"] > 0
    assert expired["extra"]["deleted_per_walk"] == expired["extra"]["flow_table_capacity"]
    assert figs["flow sweep: full table, no flow expired"]["median"] > 0


def test_json_is_where_the_readme_says_by_default() -> None:
    from pyvs.bench.main import default_output

    assert default_output().parts[-3:] == ("bench", "results", "latest.json")
    assert Path(default_output()).parent.parent.is_dir()
