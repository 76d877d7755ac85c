"""The seed document's experiment, run on the seed lab: `pyvs lab seed`.

It captures on the router's side of the director's link and of each real
server's link, runs `curl http://10.2.2.3/` in the client, prints curl's
output, `pyvsadm -L -n --stats` and the captures, then checks the document's
evidence (pyvs.lab.evidence) and prints PASS/FAIL per check.

Labs have names (`--name`, default "seed"); a lab's namespaces are
pyvs-<name>-<role> (client, router, director, real1, ...), and a lab whose
namespaces exist already is refused, so two labs with different names run
side by side. `--keep` leaves the lab up and records it in
/run/pyvs/labs/<name>.json; `pyvs lab down NAME` removes that lab and no
other, `pyvs lab list` lists the kept ones.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pyvs.lab import evidence
from pyvs.lab.netns import BackgroundProcess, LabError, Namespace, Topology, delete_namespaces, namespace_name
from pyvs.lab.seed import (
    CLIENT,
    DIRECTOR,
    MAX_REALS,
    PORT,
    VIP,
    SeedLab,
    director_cleanup,
    pcap_text,
    real_cleanup,
    seed_topology,
    wait_for_log,
)
from pyvs.model.errors import ConfigError

LAB_DIR = Path("/run/pyvs/labs")
DEFAULT_NAME = "seed"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")
ROLES = ("client", "router", "director", *(f"real{i + 1}" for i in range(MAX_REALS)))


@dataclass(slots=True)
class Capture:
    """tcpdump writing a pcap file of one interface of one namespace."""

    process: BackgroundProcess
    path: Path
    label: str

    def stop(self) -> list[str]:
        """Let tcpdump flush, stop it with SIGINT, return the capture as tcpdump prints it."""
        time.sleep(0.5)
        self.process.stop(signal.SIGINT)
        return pcap_text(self.path)


def start_capture(topology: Topology, ns: Namespace, iface: str, label: str) -> Capture:
    path = topology.workdir / f"{ns.name}-{iface}.pcap"
    # --immediate-mode: packets reach tcpdump at once, not when a ring block
    # fills or times out, so SIGINT cannot strand the last ones in the ring.
    argv = ["tcpdump", "-n", "-U", "--immediate-mode", "-Z", "root", "-i", iface, "-w", str(path)]
    proc = topology.start(ns, argv, name=f"tcpdump-{ns.name}-{iface}")
    wait_for_log(proc, "listening on")
    return Capture(proc, path, label)


@dataclass(slots=True)
class SeedReport:
    """Everything the experiment printed, and the checks."""

    curl_status: int
    curl_output: str
    listing: str
    director_link: list[str]
    real_links: dict[str, list[str]]
    checks: list[evidence.Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def judge(report: SeedReport, real_addresses: list[str]) -> list[evidence.Check]:
    """Checks (a) to (d) on what the experiment recorded."""
    director_pkts = evidence.parse_lines(report.director_link)
    real_pkts = evidence.parse_lines([line for lines in report.real_links.values() for line in lines])
    client_ports = {p.src.port for p in evidence.client_packets(director_pkts, CLIENT, VIP, PORT)}
    return [
        evidence.check_encapsulated_twins(
            director_pkts, client=CLIENT, vip=VIP, port=PORT, director=DIRECTOR, reals=real_addresses),
        evidence.check_direct_replies(
            real_pkts, client=CLIENT, vip=VIP, port=PORT, client_ports=client_ports),
        evidence.check_no_vip_source(director_pkts, vip=VIP),
        evidence.check_page(report.curl_status, report.curl_output, "served by "),
    ]


def run_experiment(lab: SeedLab) -> SeedReport:
    """Capture, curl, stop the captures, list the director's table, judge."""
    t = lab.topology
    director_cap = start_capture(t, lab.router, lab.router_director_if, "director's link")
    real_caps = [
        start_capture(t, lab.router, router_if, f"real server {address}'s link")
        for router_if, address in zip(lab.router_real_ifs, lab.real_addresses, strict=True)
    ]
    curl = lab.curl("/")
    director_link = director_cap.stop()
    real_links = {cap.label: cap.stop() for cap in real_caps}
    listing = lab.pyvsadm("-L", "-n", "--stats", check=False)
    report = SeedReport(
        curl.returncode, curl.stdout + curl.stderr, listing.stdout + listing.stderr,
        director_link, real_links,
    )
    report.checks = judge(report, lab.real_addresses)
    return report


def print_report(lab: SeedLab, report: SeedReport, out: TextIO) -> None:
    def section(title: str, lines: list[str]) -> None:
        print(f"== {title}", file=out)
        for line in lines:
            print(line, file=out)
        print(file=out)

    section(f"curl -sS --max-time 10 http://{VIP}/ (in {lab.client.name})", report.curl_output.splitlines())
    section(f"pyvsadm -L -n --stats (in {lab.director.name})", report.listing.splitlines())
    section(f"capture on the director's link ({lab.router.name} {lab.router_director_if})",
            report.director_link)
    for label, lines in report.real_links.items():
        section(f"capture on the {label} ({lab.router.name})", lines)
    section("evidence", [c.line() for c in report.checks])


def run_seed(reals: int = 1, *, keep: bool = False, out: TextIO = sys.stdout, dataplane: str = "xdp",
             name: str = DEFAULT_NAME, lab_dir: Path = LAB_DIR) -> bool:
    """`pyvs lab seed`: build, experiment, print, check; True when every check passes.

    Refuses (LabError, nothing changed) a name that is not check_name()'s or
    whose lab is up already."""
    check_name(name)
    existing = existing_namespaces(name)
    if existing:
        raise LabError(f"lab {name} is up already ({', '.join(existing)}): remove it with "
                       f"`pyvs lab down {name}`, or give this one another --name")
    topology = Topology(name=name)
    try:
        with seed_topology(reals, topology=topology, dataplane=dataplane) as lab:
            report = run_experiment(lab)
            print_report(lab, report, out)
            if keep:
                save_kept_lab(name, topology.keep(), lab_dir)
                print(f"lab {name} kept: {', '.join(ns.name for ns in topology.namespaces.values())}; "
                      f"remove it with `pyvs lab down {name}`", file=out)
            return report.passed
    finally:
        if not keep:
            topology.close()


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"illegal lab name {name!r}: 1 to 24 of a-z, 0-9 and '-', not starting with '-'")


def namespace_names(name: str) -> dict[str, str]:
    """role -> the namespace that role has in lab `name` (whether it exists or not)."""
    return {role: namespace_name(f"pyvs-{name}", role) for role in ROLES}


def existing_namespaces(name: str) -> list[str]:
    return [ns for ns in namespace_names(name).values() if Path("/run/netns", ns).exists()]


def state_path(name: str, lab_dir: Path = LAB_DIR) -> Path:
    return lab_dir / f"{name}.json"


def save_kept_lab(name: str, description: dict[str, object], lab_dir: Path = LAB_DIR) -> None:
    path = state_path(name, lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": name, **description}, indent=2) + "\n")


def load_kept_lab(name: str, lab_dir: Path = LAB_DIR) -> dict[str, Any] | None:
    try:
        kept: dict[str, Any] = json.loads(state_path(name, lab_dir).read_text())
        return kept
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class KeptLab:
    """A lab left up by --keep, as `pyvs lab list` shows it."""

    name: str
    namespaces: list[str]
    missing: list[str]  # of those, the ones that no longer exist


def kept_labs(lab_dir: Path = LAB_DIR) -> list[KeptLab]:
    labs = []
    for path in sorted(lab_dir.glob("*.json")):
        kept = load_kept_lab(path.stem, lab_dir)
        if kept is None:
            continue
        names = list(kept["namespaces"].values())
        labs.append(KeptLab(path.stem, names, [n for n in names if not Path("/run/netns", n).exists()]))
    return labs


def lab_down(name: str = DEFAULT_NAME, lab_dir: Path = LAB_DIR) -> list[str]:
    """`pyvs lab down NAME`: release pyvs state, delete lab NAME's namespaces (kept, or
    left behind by an interrupted run); returns their names. Other labs are untouched."""
    check_name(name)
    kept = load_kept_lab(name, lab_dir)
    if kept is not None:
        namespaces: dict[str, str] = kept["namespaces"]
    else:
        namespaces = {role: ns for role, ns in namespace_names(name).items()
                      if Path("/run/netns", ns).exists()}
        if not namespaces:
            others = ", ".join(lab.name for lab in kept_labs(lab_dir)) or "none"
            raise LabError(f"no lab named {name} (kept labs: {others})")
    for role, ns_name in namespaces.items():
        if not Path("/run/netns", ns_name).exists():
            continue
        if role == "director":
            director_cleanup(Namespace(ns_name))
        elif role.startswith("real"):
            real_cleanup(Namespace(ns_name))
    errors = delete_namespaces(list(namespaces.values()))
    if kept is not None and kept.get("workdir"):
        shutil.rmtree(kept["workdir"], ignore_errors=True)
    if errors:
        raise LabError("; ".join(errors))
    state_path(name, lab_dir).unlink(missing_ok=True)
    return list(namespaces.values())
