"""A thin typed ctypes binding to Debian's libbpf.so.1.

Only what pyvs uses is bound. Every negative return becomes a DataplaneError
here, in one place; libbpf's own log is captured instead of reaching stderr
(callers can read `last_log()` to explain a failed load).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path

from pyvs.model.errors import DataplaneError

_LIB = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2


class BpfObjectOpenOpts(ctypes.Structure):
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_attach_prog_fd", ctypes.c_uint32),
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
        ("kernel_log_buf", ctypes.c_char_p),
        ("kernel_log_size", ctypes.c_size_t),
        ("kernel_log_level", ctypes.c_uint32),
    ]


class BpfTestRunOpts(ctypes.Structure):
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p),
        ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32),
        ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p),
        ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32),
        ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32),
        ("repeat", ctypes.c_int),
        ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("batch_size", ctypes.c_uint32),
    ]


class BpfMapCreateOpts(ctypes.Structure):
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("btf_fd", ctypes.c_uint32),
        ("btf_key_type_id", ctypes.c_uint32),
        ("btf_value_type_id", ctypes.c_uint32),
        ("btf_vmlinux_value_type_id", ctypes.c_uint32),
        ("inner_map_fd", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("map_extra", ctypes.c_uint64),
        ("numa_node", ctypes.c_uint32),
        ("map_ifindex", ctypes.c_uint32),
    ]


class BpfInsn(ctypes.Structure):
    """struct bpf_insn: one BPF instruction (dst_reg in the low nibble of regs)."""

    _fields_ = [
        ("code", ctypes.c_uint8),
        ("regs", ctypes.c_uint8),
        ("off", ctypes.c_int16),
        ("imm", ctypes.c_int32),
    ]

    @property
    def dst_reg(self) -> int:
        return int(self.regs) & 0xF

    @property
    def src_reg(self) -> int:
        return int(self.regs) >> 4


class XdpMd(ctypes.Structure):
    """struct xdp_md, the context given to BPF_PROG_TEST_RUN."""

    _fields_ = [
        ("data", ctypes.c_uint32),
        ("data_end", ctypes.c_uint32),
        ("data_meta", ctypes.c_uint32),
        ("ingress_ifindex", ctypes.c_uint32),
        ("rx_queue_index", ctypes.c_uint32),
        ("egress_ifindex", ctypes.c_uint32),
    ]


class BpfMapInfo(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("id", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("name", ctypes.c_char * 16),
        ("_rest", ctypes.c_uint8 * 48),
    ]


_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_log: list[str] = []


def _declare(name: str, restype: object, *argtypes: object) -> None:
    fn = getattr(_LIB, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_vp, _cp, _int, _u32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32
_declare("bpf_object__open_file", _vp, _cp, ctypes.POINTER(BpfObjectOpenOpts))
_declare("bpf_object__load", _int, _vp)
_declare("bpf_object__close", None, _vp)
_declare("bpf_object__find_map_by_name", _vp, _vp, _cp)
_declare("bpf_object__find_program_by_name", _vp, _vp, _cp)
_declare("bpf_program__fd", _int, _vp)
_declare("bpf_map__fd", _int, _vp)
_declare("bpf_map__set_max_entries", _int, _vp, _u32)
_declare("bpf_obj_get", _int, _cp)
_declare("bpf_map_update_elem", _int, _int, _vp, _vp, ctypes.c_uint64)
_declare("bpf_map_lookup_elem", _int, _int, _vp, _vp)
_declare("bpf_map_delete_elem", _int, _int, _vp)
_declare("bpf_map_get_next_key", _int, _int, _vp, _vp)
_declare("bpf_map_lookup_batch", _int, _int, _vp, _vp, _vp, _vp, ctypes.POINTER(_u32), _vp)
_declare("bpf_map_update_batch", _int, _int, _vp, _vp, ctypes.POINTER(_u32), _vp)
_declare("bpf_map_delete_batch", _int, _int, _vp, ctypes.POINTER(_u32), _vp)
_declare("bpf_obj_get_info_by_fd", _int, _int, _vp, ctypes.POINTER(_u32))
_declare("bpf_xdp_attach", _int, _int, _int, _u32, _vp)
_declare("bpf_xdp_detach", _int, _int, _u32, _vp)
_declare("bpf_xdp_query_id", _int, _int, _int, ctypes.POINTER(_u32))
_declare("bpf_prog_test_run_opts", _int, _int, ctypes.POINTER(BpfTestRunOpts))
_declare("libbpf_num_possible_cpus", _int)
_declare("bpf_object__next_program", _vp, _vp, _vp)
_declare("bpf_object__next_map", _vp, _vp, _vp)
_declare("bpf_program__name", _cp, _vp)
_declare("bpf_program__insns", ctypes.POINTER(BpfInsn), _vp)
_declare("bpf_program__insn_cnt", ctypes.c_size_t, _vp)
_declare("bpf_map__name", _cp, _vp)
_declare("bpf_map__type", _int, _vp)
_declare("bpf_map__map_flags", _u32, _vp)
_declare("bpf_map__key_size", _u32, _vp)
_declare("bpf_map__value_size", _u32, _vp)
_declare("bpf_map__max_entries", _u32, _vp)
_declare("libbpf_probe_bpf_prog_type", _int, _int, _vp)
_declare("libbpf_probe_bpf_map_type", _int, _int, _vp)
_declare("libbpf_probe_bpf_helper", _int, _int, _int, _vp)
_declare("bpf_map_create", _int, _int, _cp, _u32, _u32, _u32, ctypes.POINTER(BpfMapCreateOpts))
_declare("bpf_prog_load", _int, _int, _cp, _cp, ctypes.POINTER(BpfInsn), ctypes.c_size_t, _vp)
_declare("libbpf_set_print", _vp, _vp)

_libc = ctypes.CDLL(None, use_errno=True)
_vsnprintf = _libc.vsnprintf
_vsnprintf.restype = ctypes.c_int
_vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]


@_PRINT_FN  # type: ignore[untyped-decorator]
def _capture(level: int, fmt: bytes, args: int) -> int:
    buf = ctypes.create_string_buffer(4096)
    _vsnprintf(buf, len(buf), fmt, args)
    _log.append(buf.value.decode(errors="replace"))
    del _log[:-400]
    return 0


_LIB.libbpf_set_print(ctypes.cast(_capture, ctypes.c_void_p))


def last_log() -> str:
    """What libbpf printed since the last clear_log() (verifier output included)."""
    return "".join(_log)


def clear_log() -> None:
    _log.clear()


def check(rc: int, what: str) -> int:
    """Raise DataplaneError for a negative libbpf return value."""
    if rc < 0:
        raise DataplaneError(-rc, what)
    return rc


def num_possible_cpus() -> int:
    return check(_LIB.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus")


@dataclass(frozen=True, slots=True)
class ObjectMap:
    """A map as an object declares it."""

    name: str
    type: int
    key_size: int
    value_size: int
    flags: int
    max_entries: int


class BpfObject:
    """An opened BPF ELF object; close() frees programs and maps not pinned or attached."""

    def __init__(self, path: Path, *, pin_root: Path | None = None) -> None:
        self._pin_root = str(pin_root).encode() if pin_root else None
        opts = BpfObjectOpenOpts(sz=ctypes.sizeof(BpfObjectOpenOpts), pin_root_path=self._pin_root)
        clear_log()
        ptr = _LIB.bpf_object__open_file(str(path).encode(), ctypes.byref(opts))
        if not ptr:
            raise DataplaneError(ctypes.get_errno() or 22, f"open {path}")
        self._ptr: int | None = ptr

    def _obj(self) -> int:
        if self._ptr is None:
            raise DataplaneError(9, "BPF object already closed")
        return self._ptr

    def set_max_entries(self, map_name: str, entries: int) -> None:
        map_ptr = self._map(map_name)
        check(_LIB.bpf_map__set_max_entries(map_ptr, entries), f"resize {map_name}")

    def load(self) -> None:
        clear_log()
        rc = _LIB.bpf_object__load(self._obj())
        if rc < 0:
            raise DataplaneError(-rc, "load BPF object (libbpf said: " + last_log()[-2000:] + ")")

    def program_fd(self, name: str) -> int:
        prog = _LIB.bpf_object__find_program_by_name(self._obj(), name.encode())
        if not prog:
            raise DataplaneError(2, f"no program {name}")
        return check(_LIB.bpf_program__fd(prog), f"fd of {name}")

    def program_names(self) -> list[str]:
        names, prog = [], None
        while prog := _LIB.bpf_object__next_program(self._obj(), prog):
            names.append(_LIB.bpf_program__name(prog).decode())
        return names

    def program_insns(self, name: str) -> list[BpfInsn]:
        """The program's instructions as opened (before load): what it asks of the verifier."""
        prog = _LIB.bpf_object__find_program_by_name(self._obj(), name.encode())
        if not prog:
            raise DataplaneError(2, f"no program {name}")
        insns = _LIB.bpf_program__insns(prog)
        return [BpfInsn.from_buffer_copy(insns[i]) for i in range(_LIB.bpf_program__insn_cnt(prog))]

    def object_maps(self) -> list[ObjectMap]:
        """Every map the object would create (before load: its type, sizes and flags)."""
        specs, map_ptr = [], None
        while map_ptr := _LIB.bpf_object__next_map(self._obj(), map_ptr):
            specs.append(ObjectMap(_LIB.bpf_map__name(map_ptr).decode(), _LIB.bpf_map__type(map_ptr),
                                 _LIB.bpf_map__key_size(map_ptr), _LIB.bpf_map__value_size(map_ptr),
                                 _LIB.bpf_map__map_flags(map_ptr), _LIB.bpf_map__max_entries(map_ptr)))
        return specs

    def map_fd(self, name: str) -> int:
        return check(_LIB.bpf_map__fd(self._map(name)), f"fd of map {name}")

    def _map(self, name: str) -> int:
        map_ptr = _LIB.bpf_object__find_map_by_name(self._obj(), name.encode())
        if not map_ptr:
            raise DataplaneError(2, f"no map {name}")
        return int(map_ptr)

    def close(self) -> None:
        if self._ptr is not None:
            _LIB.bpf_object__close(self._ptr)
            self._ptr = None

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def obj_get(path: Path) -> int:
    """Open a pinned map or program; the caller owns the returned fd."""
    return check(_LIB.bpf_obj_get(str(path).encode()), f"open {path}")


def map_info(fd: int) -> BpfMapInfo:
    info = BpfMapInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    check(_LIB.bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size)), "map info")
    return info


def map_update(fd: int, key: ctypes.Array | ctypes.Structure | ctypes._SimpleCData,  # type: ignore[type-arg]
               value: object, flags: int = BPF_ANY) -> None:
    check(_LIB.bpf_map_update_elem(fd, ctypes.byref(key), ctypes.byref(value), flags),  # type: ignore[arg-type]
          "update map element")


def map_update_batch(fd: int, keys: bytes, values: bytes, count: int) -> None:
    """Write `count` entries in one syscall (BPF_MAP_UPDATE_BATCH): keys and values laid end to end."""
    done = ctypes.c_uint32(count)
    check(_LIB.bpf_map_update_batch(fd, keys, values, ctypes.byref(done), None), "batch update")


def map_delete_batch(fd: int, keys: bytes, count: int) -> int:
    """Delete `count` keys laid end to end in one syscall (BPF_MAP_DELETE_BATCH), stopping at
    the first that is absent; returns how many went."""
    done = ctypes.c_uint32(count)
    rc = _LIB.bpf_map_delete_batch(fd, keys, ctypes.byref(done), None)
    if rc != -2:
        check(rc, "batch delete")
    return done.value


def map_lookup(fd: int, key: object, value: object) -> bool:
    """Fill `value` for `key`; False when the key is absent."""
    rc = _LIB.bpf_map_lookup_elem(fd, ctypes.byref(key), ctypes.byref(value))  # type: ignore[arg-type]
    if rc == -2:
        return False
    check(rc, "lookup map element")
    return True


def map_delete(fd: int, key: object) -> bool:
    rc = _LIB.bpf_map_delete_elem(fd, ctypes.byref(key))  # type: ignore[arg-type]
    if rc == -2:
        return False
    check(rc, "delete map element")
    return True


def map_next_key(fd: int, key: object | None, next_key: object) -> bool:
    """Advance iteration; False at the end."""
    rc = _LIB.bpf_map_get_next_key(fd, ctypes.byref(key) if key is not None else None,  # type: ignore[arg-type]
                                   ctypes.byref(next_key))  # type: ignore[arg-type]
    if rc == -2:
        return False
    check(rc, "iterate map")
    return True


def map_lookup_batch(fd: int, key_size: int, value_size: int, max_entries: int) -> tuple[bytes, bytes, int]:
    """All entries of a map in as few syscalls as the kernel allows: (keys, values, count)."""
    keys = ctypes.create_string_buffer(key_size * max_entries)
    values = ctypes.create_string_buffer(value_size * max_entries)
    out_batch = ctypes.c_uint64(0)
    total = 0
    in_batch = None
    while total < max_entries:
        count = ctypes.c_uint32(max_entries - total)
        rc = _LIB.bpf_map_lookup_batch(
            fd, in_batch, ctypes.byref(out_batch),
            ctypes.byref(keys, total * key_size), ctypes.byref(values, total * value_size),
            ctypes.byref(count), None)
        total += count.value
        if rc == -2:  # ENOENT: no more entries
            break
        check(rc, "batch lookup")
        in_batch = ctypes.byref(out_batch)
    return keys.raw[: total * key_size], values.raw[: total * value_size], total


def xdp_attach(ifindex: int, prog_fd: int, flags: int = 0) -> None:
    check(_LIB.bpf_xdp_attach(ifindex, prog_fd, flags, None), f"attach XDP to ifindex {ifindex}")


def xdp_detach(ifindex: int, flags: int = 0) -> None:
    check(_LIB.bpf_xdp_detach(ifindex, flags, None), f"detach XDP from ifindex {ifindex}")


def xdp_query_id(ifindex: int) -> int:
    prog_id = ctypes.c_uint32(0)
    check(_LIB.bpf_xdp_query_id(ifindex, 0, ctypes.byref(prog_id)), f"query XDP on ifindex {ifindex}")
    return prog_id.value


def prog_test_run(prog_fd: int, data: bytes, *, ctx: XdpMd | None = None, repeat: int = 1,
                  flags: int = 0, batch_size: int = 0, out_size: int = 4096) -> tuple[int, bytes, int]:
    """BPF_PROG_TEST_RUN: (retval, output frame, mean duration in ns)."""
    data_in = ctypes.create_string_buffer(data, len(data))
    data_out = ctypes.create_string_buffer(out_size)
    opts = BpfTestRunOpts(sz=ctypes.sizeof(BpfTestRunOpts))
    opts.data_in = ctypes.cast(data_in, ctypes.c_void_p)
    opts.data_size_in = len(data)
    if not flags & BPF_F_TEST_XDP_LIVE_FRAMES:
        opts.data_out = ctypes.cast(data_out, ctypes.c_void_p)
        opts.data_size_out = out_size
    if ctx is not None:
        opts.ctx_in = ctypes.cast(ctypes.pointer(ctx), ctypes.c_void_p)
        opts.ctx_size_in = ctypes.sizeof(ctx)
    opts.repeat = repeat
    opts.flags = flags
    opts.batch_size = batch_size
    check(_LIB.bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts)), "BPF_PROG_TEST_RUN")
    return opts.retval, data_out.raw[: opts.data_size_out], opts.duration


def prog_run_syscall(prog_fd: int, ctx: ctypes.Structure) -> int:
    """Run a SEC("syscall") program once on `ctx`; return its return value (signed).

    BPF_PROG_TEST_RUN refuses packet data, ctx_out, repeat and flags for these
    programs: the context goes in through ctx_in only, and the kernel copies
    it back there afterwards, so `ctx` holds what the program wrote into it.
    """
    opts = BpfTestRunOpts(sz=ctypes.sizeof(BpfTestRunOpts))
    opts.ctx_in = ctypes.cast(ctypes.pointer(ctx), ctypes.c_void_p)
    opts.ctx_size_in = ctypes.sizeof(ctx)
    check(_LIB.bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts)), "BPF_PROG_TEST_RUN (syscall program)")
    return ctypes.c_int32(opts.retval).value


def close_fd(fd: int) -> None:
    os.close(fd)


# -- probes: what the running kernel supports (pyvs.dataplane.features asks) --------

def probe_prog_type(prog_type: int) -> bool:
    return bool(_LIB.libbpf_probe_bpf_prog_type(prog_type, None) == 1)


def probe_map_type(map_type: int) -> bool:
    return bool(_LIB.libbpf_probe_bpf_map_type(map_type, None) == 1)


def probe_helper(prog_type: int, helper_id: int) -> bool:
    return bool(_LIB.libbpf_probe_bpf_helper(prog_type, helper_id, None) == 1)


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0) -> int:
    """A new unpinned map; the caller owns the fd."""
    opts = BpfMapCreateOpts(sz=ctypes.sizeof(BpfMapCreateOpts), map_flags=flags)
    return check(_LIB.bpf_map_create(map_type, b"pyvs_probe", key_size, value_size, max_entries,
                                     ctypes.byref(opts)), "create map")


def prog_load(prog_type: int, insns: list[BpfInsn]) -> int:
    """Load raw instructions as a GPL program; the caller owns the fd."""
    array = (BpfInsn * len(insns))(*insns)
    return check(_LIB.bpf_prog_load(prog_type, b"pyvs_probe", b"GPL", array, len(insns), None),
                 "load program")
