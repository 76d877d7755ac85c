"""The `pyvs` command: director attach/detach, real-server setup, and the lab.

    pyvs director attach [--dataplane xdp|python] IFACE [IFACE ...]
                                                load the director (XDP program, or the
                                                live Python forwarder daemon)
    pyvs director detach IFACE [IFACE ...]      whichever data plane serves them
    pyvs director prune                         remove the pinned state of namespaces that are gone
    pyvs director stats [--json]                drops by reason, flow-table occupancy, decap counters
    pyvs realserver up --vip VIP [--vip VIP ...] [--iface IFACE] [--decap auto|kernel|xdp]
                       [--mss auto|off|N]
    pyvs realserver down
    pyvs realserver check --vip VIP [--vip VIP ...] [--iface IFACE]
    pyvs realserver probe [--timeout S] REAL VIP[:PORT]
                                                from another host (the director): IPIP to REAL,
                                                the answer from VIP must come back
    pyvs lab seed [--name NAME] [--keep] [--reals N] [--dataplane xdp|python]
                                                the seed document's experiment
    pyvs lab down [NAME]                        remove a lab left up by --keep
    pyvs lab list                               the labs left up by --keep

Every command acts on the network namespace it runs in (for a namespace made
with `ip netns add`, run it with `nsenter --net=/run/netns/NAME`, not `ip
netns exec`, which hides /sys/fs/bpf). Errors print one line on stderr and
exit non-zero: 2 for bad input, 1 for everything else.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pyvs.model.errors import ConfigError, LbError

EXIT_USAGE = 2
EXIT_FAILURE = 1
DATAPLANES = ("xdp", "python")
GENERIC_XDP_NOTE = ("its driver has no native XDP: attached in generic mode, "
                    "which forwards the same packets more slowly")


def _vip(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"illegal VIP {text!r}: not an IPv4 address") from None


def cmd_director_attach(args: argparse.Namespace) -> int:
    from pyvs.dataplane import forwarder_process, veth, xdp

    if args.dataplane == "python":
        forwarder_process.attach(args.ifaces)
        xdp.set_settings(skb_mode=False, drain=args.removed == "drain")
        return 0
    for ifname in args.ifaces:
        xdp.ifindex_of(ifname)  # a bad name changes nothing
    xdp.require_director_kernel()  # nor does a kernel without what the director needs
    forwarder_process.release(args.ifaces)  # one data plane per interface
    modes = {ifname: xdp.attach_director(ifname) for ifname in args.ifaces}
    for ifname, mode in modes.items():
        if mode is xdp.AttachMode.GENERIC:
            print(f"pyvs: {ifname}: {GENERIC_XDP_NOTE}", file=sys.stderr)
        elif (warning := veth.silent_drop_warning(ifname)) is not None:
            print(f"pyvs: warning: {warning}", file=sys.stderr)
    # In generic mode the kernel finishes checksums a local sender left to offload (the
    # program must not); one interface in generic mode decides for all.
    xdp.set_settings(skb_mode=xdp.AttachMode.GENERIC in modes.values(), drain=args.removed == "drain")
    return 0


def cmd_director_detach(args: argparse.Namespace) -> int:
    from pyvs.dataplane import forwarder_process, xdp

    for ifname in args.ifaces:
        xdp.ifindex_of(ifname)
    forwarder_process.release(args.ifaces)
    for ifname in args.ifaces:
        xdp.detach_director(ifname)
    return 0


def cmd_director_prune(args: argparse.Namespace) -> int:
    from pyvs.dataplane import pins

    for directory in pins.stale_dirs():
        pins.remove_state(directory)
        print(f"removed {directory} (its network namespace is gone)")
    return 0


def cmd_director_stats(args: argparse.Namespace) -> int:
    from pyvs.cli import stats
    from pyvs.dataplane import xdp

    counters = xdp.read_stats()
    sys.stdout.write(stats.as_json(counters) if args.json else stats.render(counters))
    return 0


def _mss(text: str) -> int | str:
    if text in ("auto", "off"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"illegal MSS {text!r}: auto, off or a number") from None


def _vip_port(text: str) -> tuple[ipaddress.IPv4Address, int | None]:
    address, _, port = text.partition(":")
    if not port:
        return _vip(address), None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"illegal port {port!r}")
    return _vip(address), int(port)


def cmd_realserver_up(args: argparse.Namespace) -> int:
    from pyvs import realserver

    decap = {"auto": None, "kernel": realserver.DecapMode.KERNEL, "xdp": realserver.DecapMode.XDP}[args.decap]
    state = realserver.up(args.vips, args.iface, decap=decap, mss=args.mss)
    how = "tunl0" if state.mode == realserver.DecapMode.KERNEL.value else f"XDP decap on {state.iface}"
    if state.decap_mode == "generic":
        how += f", {GENERIC_XDP_NOTE}"
    if state.mss is not None:
        how += f", MSS clamped to {state.mss}"
    print(f"real server up for {', '.join(state.vips)} ({how})")
    return 0


def cmd_realserver_down(args: argparse.Namespace) -> int:
    from pyvs import realserver

    if realserver.down() is None:
        raise ConfigError("no real server set up by pyvs in this network namespace")
    print("real server down: settings restored")
    return 0


def cmd_realserver_check(args: argparse.Namespace) -> int:
    from pyvs import realserver

    decap = {"auto": None, "kernel": realserver.DecapMode.KERNEL, "xdp": realserver.DecapMode.XDP}[args.decap]
    missing = realserver.check(args.vips, args.iface, decap=decap)
    for piece in missing:
        print(piece)
    if not missing:
        print("real server ready")
    return 1 if missing else 0


def cmd_realserver_probe(args: argparse.Namespace) -> int:
    from pyvs.realserver import probe

    vip, port = args.vip
    target = f"{vip}:{port}" if port is not None else f"{vip}"
    answer = probe.probe(str(args.real), str(vip), port, timeout=args.timeout)
    if answer is None:
        print(f"no answer from {target} within {args.timeout:g} s to an IPIP probe sent to {args.real}")
        return 1
    mss = f", MSS {answer.mss}" if answer.mss is not None else ""
    print(f"{answer.kind} from {target} (IPIP probe sent to {args.real}){mss}")
    if answer.kind == "RST":
        print(f"the real-server path works, but nothing listens on port {port}")
        return 1
    return 0


def cmd_lab_seed(args: argparse.Namespace) -> int:
    from pyvs.lab import experiment

    passed = experiment.run_seed(args.reals, keep=args.keep, dataplane=args.dataplane, name=args.name)
    return 0 if passed else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from pyvs.bench import main as bench

    return bench.run(args)


def cmd_lab_down(args: argparse.Namespace) -> int:
    from pyvs.lab import experiment

    names = experiment.lab_down(args.name)
    print(f"lab {args.name} removed: {', '.join(names)}")
    return 0


def cmd_lab_list(args: argparse.Namespace) -> int:
    from pyvs.lab import experiment

    for lab in experiment.kept_labs():
        gone = f" (gone: {', '.join(lab.missing)})" if lab.missing else ""
        print(f"{lab.name}\t{' '.join(lab.namespaces)}{gone}")
    return 0


def _default_lab_name() -> str:
    from pyvs.lab.experiment import DEFAULT_NAME

    return DEFAULT_NAME


def _dataplane_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataplane", choices=DATAPLANES, default="xdp",
                        help="xdp: the XDP program (default); python: the live Python forwarder "
                             "(AF_PACKET, for hosts without XDP)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyvs", description="pyvs: LVS tunnel mode with an XDP data plane")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{director,realserver,lab,bench}")

    def command(
        group: Any, name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    director = groups.add_parser("director", help="the director's XDP program").add_subparsers(
        dest="command", required=True
    )
    for name, handler, text in (
        ("attach", cmd_director_attach, "load the director on interfaces"),
        ("detach", cmd_director_detach, "remove the director from interfaces"),
    ):
        sub = command(director, name, handler, text)
        sub.add_argument("ifaces", nargs="+", metavar="IFACE")
        if name == "attach":
            _dataplane_option(sub)
            sub.add_argument("--removed", choices=("drop", "drain"), default="drop",
                             help="packets of connections whose real server was removed (pyvsadm -d): "
                                  "drop them, as IPVS does (default), or let them drain to it until "
                                  "the connection ends or times out")
    command(director, "prune", cmd_director_prune,
            "remove the pinned maps of network namespaces that no longer exist")
    stats = command(director, "stats", cmd_director_stats,
                    "the data plane's counters in this network namespace: the director's drops by reason "
                    "(lb_drops) and its flow table's entries and size (lb_flows), then the XDP "
                    "decapsulation's packets, bytes and drops where `pyvs realserver up` attached it; "
                    "every counter is printed, zeros included (a program with no maps here has no rows)")
    stats.add_argument("--json", action="store_true",
                       help='one JSON object with the keys "drops", "flows" and "decap" (null where the '
                            "program has no maps here)")

    real = groups.add_parser("realserver", help="tunnel-mode real-server setup").add_subparsers(
        dest="command", required=True
    )
    for name, handler, text in (
        ("up", cmd_realserver_up, "decapsulation, VIP, ARP and rp_filter settings, MSS clamp"),
        ("check", cmd_realserver_check, "list what this real server lacks (exit 1 if anything)"),
    ):
        sub = command(real, name, handler, text)
        sub.add_argument("--vip", dest="vips", action="append", type=_vip, required=True, metavar="VIP")
        sub.add_argument("--iface", help="where IPIP packets arrive (default: the default route's)")
        sub.add_argument("--decap", choices=("auto", "kernel", "xdp"), default="auto",
                         help="kernel: tunl0 (the ipip module); xdp: pyvs's XDP program; auto (default): "
                              "for up, tunl0 where the kernel has the ipip module, else XDP; for check, "
                              "what up set up, else the same")
        if name == "up":
            sub.add_argument("--mss", type=_mss, default="auto", metavar="auto|off|N",
                             help="clamp the MSS of SYN-ACKs from the VIPs (nftables): auto (default), the "
                                  "interface's MTU - 40 - 20 (IPIP); N; off, no clamp")
    command(real, "down", cmd_realserver_down, "undo what `up` changed")
    probe = command(real, "probe", cmd_realserver_probe,
                    "from another host (the director): send REAL an IPIP packet for VIP (ICMP echo, or "
                    "a TCP SYN to PORT) and wait for the answer from VIP (exit 1 without one)")
    probe.add_argument("real", type=_vip, metavar="REAL", help="the real server's own address")
    probe.add_argument("vip", type=_vip_port, metavar="VIP[:PORT]")
    probe.add_argument("--timeout", type=float, default=2.0, metavar="S", help="seconds to wait (default 2)")

    lab = groups.add_parser("lab", help="network-namespace labs").add_subparsers(
        dest="command", required=True
    )
    seed = command(lab, "seed", cmd_lab_seed, "run the seed document's experiment in namespaces")
    seed.add_argument("--name", default=_default_lab_name(), metavar="NAME",
                      help="the lab's name: its namespaces are pyvs-NAME-ROLE (default: %(default)s)")
    seed.add_argument("--keep", action="store_true",
                      help="leave the lab up (remove it with `pyvs lab down NAME`)")
    seed.add_argument("--reals", type=int, default=1, metavar="N", help="number of real servers (1-8)")
    _dataplane_option(seed)
    down = command(lab, "down", cmd_lab_down, "remove a lab left up by `pyvs lab seed --keep`")
    down.add_argument("name", nargs="?", default=_default_lab_name(), metavar="NAME",
                      help="which lab (default: %(default)s)")
    command(lab, "list", cmd_lab_list, "the labs left up by `pyvs lab seed --keep`: name, namespaces")

    from pyvs.bench.main import add_arguments as bench_arguments

    bench = groups.add_parser("bench", help="benchmarks in namespaces: table and bench/results/latest.json",
                              description="run the benchmarks in network namespaces; print the table and "
                                          "write bench/results/latest.json")
    bench.set_defaults(handler=cmd_bench)
    bench_arguments(bench)
    return parser


def _terminate(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # unwinds through the lab's clean-up


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"pyvs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LbError, OSError, RuntimeError, ImportError, subprocess.SubprocessError) as exc:
        print(f"pyvs: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("pyvs: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
