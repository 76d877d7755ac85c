"""`pyvs realserver up | down | check`: prepare a tunnel-mode real server and undo it.

Rule 1: `up` records every change (previous sysctl value, address added, link
brought up, decap program attached) in the state file as it goes, even when a
later step fails, so `down` restores exactly what was there before.
Rule 2: `check` changes nothing; it lists the missing pieces in words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from pyvs.realserver.mss import MSS_MAX, MSS_MIN, clamp_for_mtu
from pyvs.realserver.plan import (
    TUNL0,
    DecapMode,
    Observed,
    desired_sysctls,
    missing_pieces,
    rp_filter_fixes,
    rp_filter_paths,
    vip_device,
)
from pyvs.realserver.state import (
    STATE_DIR,
    RealServerState,
    load_state,
    remove_state,
    save_state,
    state_path,
)
from pyvs.realserver.system import KernelSystem, RealServerError, System

T = TypeVar("T")
MssChoice = int | Literal["auto", "off"]


def _vip_strings(vips: Sequence[ipaddress.IPv4Address | str]) -> list[str]:
    if not vips:
        raise RealServerError("at least one VIP is needed")
    try:
        return [str(ipaddress.IPv4Address(str(v))) for v in vips]
    except ValueError as exc:
        raise RealServerError(f"illegal VIP: {exc}") from exc


def _resolve_iface(system: System, iface: str | None) -> str:
    iface = iface or system.default_route_iface()
    if iface is None:
        raise RealServerError("no default route here: name the interface with --iface")
    if not system.link_exists(iface):
        raise RealServerError(f"interface {iface} does not exist")
    return iface


def up(
    vips: Sequence[ipaddress.IPv4Address | str], iface: str | None = None, *,
    decap: DecapMode | None = None, mss: MssChoice = "auto", system: System | None = None,
    state_dir: Path = STATE_DIR,
) -> RealServerState:
    """Make this namespace a real server for `vips`; repeatable (adds VIPs).

    `decap`: KERNEL (tunl0, the ipip module), XDP (pyvs's program), or None:
    tunl0 where the kernel has the ipip module, XDP otherwise.
    `mss`: the clamp on SYN-ACKs from the VIPs (pyvs.realserver.mss): "auto",
    the interface's MTU - 60; a number; or "off", no clamp (and an earlier
    `up`'s clamp removed).
    """
    system = system or KernelSystem()
    wanted = _vip_strings(vips)
    iface = _resolve_iface(system, iface)
    inode, cookie = system.netns_identity()
    path = state_path(inode, state_dir)
    state = load_state(path, cookie)
    if state is not None and state.iface != iface:
        raise RealServerError(f"real server already up on {state.iface}: run `pyvs realserver down` first")
    if state is not None and decap is not None and state.mode != decap.value:
        raise RealServerError(f"real server already up with {state.mode}: run `pyvs realserver down` first")
    if state is None:
        has_ipip = system.kernel_has_ipip()
        if decap is DecapMode.KERNEL and not has_ipip:
            raise RealServerError("the kernel has no ipip module (no tunl0): use XDP decapsulation")
        mode = decap or (DecapMode.KERNEL if has_ipip else DecapMode.XDP)
        state = RealServerState(inode, cookie, mode.value, iface)
    mode = DecapMode(state.mode)
    if mode is DecapMode.XDP:
        system.require_decap_kernel()  # before anything changes
    clamp = _mss_value(system, iface, mss)
    if clamp is not None:
        system.require_nft()
    try:
        _apply_sysctls(system, state, mode, iface)
        _add_vips(system, state, mode, wanted)
        _set_mss_clamp(system, state, clamp)
        if mode is DecapMode.KERNEL:
            if not system.link_is_up(TUNL0):
                system.set_link_up(TUNL0, True)
                state.links_up.append(TUNL0)
        else:
            _attach_decap(system, state, iface)
    finally:
        save_state(path, state)
    return state


def _apply_sysctls(system: System, state: RealServerState, mode: DecapMode, iface: str) -> None:
    for setting in desired_sysctls(mode, iface):
        current = system.read_sysctl(setting.path)
        if current is None:
            raise RealServerError(f"no sysctl net.ipv4.conf.{setting.iface}.{setting.key}")
        _set_sysctl(system, state, setting.path, current, str(setting.value))
    rp_current = {path: system.read_sysctl(path) for path in rp_filter_paths(mode, iface)}
    for setting in rp_filter_fixes(mode, iface, rp_current, system.default_route_iface()):
        _set_sysctl(system, state, setting.path, rp_current[setting.path] or "", str(setting.value))


def _set_sysctl(system: System, state: RealServerState, path: str, current: str, value: str) -> None:
    state.sysctls.setdefault(path, current)
    if current != value:
        system.write_sysctl(path, value)


def _mss_value(system: System, iface: str, mss: MssChoice) -> int | None:
    if mss == "off":
        return None
    value = clamp_for_mtu(system.link_mtu(iface)) if mss == "auto" else int(mss)
    if not MSS_MIN <= value <= MSS_MAX:
        raise RealServerError(f"illegal MSS {value}: between {MSS_MIN} and {MSS_MAX}")
    return value


def _set_mss_clamp(system: System, state: RealServerState, clamp: int | None) -> None:
    state.mss = clamp
    if clamp is not None:
        state.mss_table = True  # recorded first: a half-made table is removed by `down` too
        system.set_mss_clamp(clamp, state.vips)
    elif state.mss_table:
        system.remove_mss_clamp()
        state.mss_table = False


def _add_vips(system: System, state: RealServerState, mode: DecapMode, vips: list[str]) -> None:
    device = vip_device(mode)
    held = set(system.addresses(device))
    for vip in vips:
        if vip not in state.vips:
            state.vips.append(vip)
        if vip in held:
            continue
        # like the seed: "ifconfig tunl0 VIP netmask 255.255.255.255 broadcast VIP"
        system.add_address(device, f"{vip}/32", vip if device == TUNL0 else None)
        state.addresses.append([device, f"{vip}/32"])


def _attach_decap(system: System, state: RealServerState, iface: str) -> None:
    before = system.decap_status(iface)
    if not state.decap_attached and before is not None and before.attached:
        state.decap_previous = {"vips": sorted(before.vips), "local_addrs": sorted(before.local_addrs)}
    previous_vips = state.decap_previous["vips"] if state.decap_previous else []
    vips = sorted(set(previous_vips) | set(state.vips))
    local_addrs = system.addresses(iface)
    if not local_addrs:
        raise RealServerError(f"{iface} has no IPv4 address for the tunnel's outer destination")
    state.decap_mode = system.attach_decap(iface, vips, local_addrs)
    state.decap_attached = True


def down(*, system: System | None = None, state_dir: Path = STATE_DIR) -> RealServerState | None:
    """Undo what `up` recorded; None when nothing was recorded in this namespace."""
    system = system or KernelSystem()
    inode, cookie = system.netns_identity()
    path = state_path(inode, state_dir)
    state = load_state(path, cookie)
    if state is None:
        return None
    errors: list[str] = []
    if state.decap_attached:
        try:
            system.detach_decap(state.iface)
            if state.decap_previous:  # someone else's decap config was there before
                prev = state.decap_previous
                system.attach_decap(state.iface, prev["vips"], prev["local_addrs"])
            state.decap_attached = False
        except Exception as exc:  # undo the rest, keep this one recorded
            errors.append(f"decap on {state.iface}: {exc}")
    if state.mss_table:
        state.mss_table = bool(_undo([True], lambda _: system.remove_mss_clamp(), errors))
    state.addresses = _undo(state.addresses, lambda a: system.del_address(a[0], a[1]), errors)
    state.links_up = _undo(state.links_up, lambda dev: system.set_link_up(dev, False), errors)
    kept = _undo(
        list(reversed(state.sysctls.items())), lambda kv: system.write_sysctl(kv[0], kv[1]), errors
    )
    state.sysctls = dict(reversed(kept))
    if errors:
        save_state(path, state)
        raise RealServerError("could not undo: " + "; ".join(errors))
    remove_state(path)
    return state


def _undo(items: Sequence[T], action: Callable[[T], object], errors: list[str]) -> list[T]:
    """Apply `action` to each item; return the items it failed on (their errors appended)."""
    failed = []
    for item in items:
        try:
            action(item)
        except Exception as exc:  # undo the rest
            errors.append(str(exc))
            failed.append(item)
    return failed


def check(
    vips: Sequence[ipaddress.IPv4Address | str], iface: str | None = None, *,
    decap: DecapMode | None = None, system: System | None = None, state_dir: Path = STATE_DIR,
) -> list[str]:
    """The pieces this namespace lacks to be a real server for `vips`, in words; with `decap`,
    for that decapsulation (else the one `up` set up, or the kernel's tunl0 where it exists)."""
    system = system or KernelSystem()
    wanted = _vip_strings(vips)
    iface = _resolve_iface(system, iface)
    inode, cookie = system.netns_identity()
    state = load_state(state_path(inode, state_dir), cookie)
    tunl0 = system.link_exists(TUNL0)
    detected = DecapMode.KERNEL if tunl0 else DecapMode.XDP
    mode = decap or (DecapMode(state.mode) if state is not None else detected)
    paths = [s.path for s in desired_sysctls(mode, iface)] + rp_filter_paths(mode, iface)
    device = vip_device(mode)
    addresses = {device: frozenset(system.addresses(device))} if system.link_exists(device) else {}
    mss_wanted = clamp_for_mtu(system.link_mtu(iface)) if state is None else state.mss
    observed = Observed(
        sysctls={path: system.read_sysctl(path) for path in paths},
        addresses=addresses,
        tunl0_exists=tunl0,
        tunl0_up=tunl0 and system.link_is_up(TUNL0),
        decap=system.decap_status(iface) if mode is DecapMode.XDP else None,
        iface_addresses=frozenset(system.addresses(iface)),
        default_route_iface=system.default_route_iface(),
        mss_clamp=system.mss_clamp() if mss_wanted is not None else None,
        mss_wanted=mss_wanted,
    )
    return missing_pieces(mode, wanted, iface, observed)
