"""The OS limits of a reward worker process: its memory always, and the opt-in sandbox.

A worker (`racer.reward.worker`) applies them to itself when it starts, before it imports numpy
or the user's file, so everything the reward function does later runs inside them. They use what
Linux offers an unprivileged process, with no seccomp filter and no helper binary:

- memory: ``RLIMIT_AS`` caps the worker's address space; an allocation beyond it raises
  ``MemoryError`` in the reward function (or, failing in C code, ends the worker), and the
  call's error says so.
- no network: a new network namespace (``unshare``, inside a new user namespace when not root)
  has only a loopback device, down: connecting anywhere fails with "Network is unreachable".
  With Landlock ABI >= 4, TCP connect and bind are refused as well.
- no writes outside one folder, no programs: Landlock (Linux >= 5.13) refuses creating,
  writing, truncating, renaming and deleting files anywhere but beneath the allowed folder,
  and running any program (``os.system`` and ``subprocess`` find ``/bin/sh`` not executable).
  With ABI >= 6 the worker cannot signal processes outside the sandbox either.
- bounded resources: ``RLIMIT_FSIZE`` (the largest file it may write), ``RLIMIT_NOFILE`` (open
  files), ``RLIMIT_NPROC`` (no new processes or threads, where the kernel enforces it: not for
  root) and ``RLIMIT_CORE`` 0.

Not stopped: reading any file the user may read (``/etc/passwd``, ``~/.aws``), the CPU time of
a call (the worker's time limit ends it), and anything done through the file descriptors the
worker already holds. Where a layer is not available, `apply_limits` says which and why, and the
worker goes on without it.
"""

from __future__ import annotations

import ctypes
import os
import resource

#: The sandbox's largest file [bytes] (``RLIMIT_FSIZE``).
SANDBOX_FILE_SIZE = 64 * 2**20
#: The sandbox's open files (``RLIMIT_NOFILE``).
SANDBOX_OPEN_FILES = 64

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
# Landlock's system calls share one number on every architecture.
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE = 1 << 0
_FS_WRITES = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
_NET_TCP = (1 << 0) | (1 << 1)  # bind, connect (ABI 4)
_SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals (ABI 6)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _errno() -> str:
    return os.strerror(ctypes.get_errno())


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux; a no-op elsewhere)."""
    try:
        _libc().prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL
    except (OSError, AttributeError):
        pass


def apply_limits(memory_limit: int, sandbox: bool, writable: str = "") -> list[str]:
    """Apply the memory limit and, with ``sandbox``, every layer of the sandbox to this process.

    Must run while the process has one thread (unsharing a user namespace needs that).

    Args:
        memory_limit: [bytes] the address-space limit; 0 for none.
        sandbox: also cut the network, writes, programs and resources (see the module doc).
        writable: the one folder the sandbox may write beneath; empty for none.

    Returns:
        A sentence for each layer that could not be applied, saying what stays allowed.
    """
    missing = []
    if memory_limit > 0:
        missing += _set_limit(resource.RLIMIT_AS, memory_limit, "the memory limit")
    missing += _set_limit(resource.RLIMIT_CORE, 0, "no core dumps")
    if not sandbox:
        return missing
    missing += _no_network()
    missing += _set_limit(resource.RLIMIT_FSIZE, SANDBOX_FILE_SIZE, "the file size limit")
    missing += _set_limit(resource.RLIMIT_NOFILE, SANDBOX_OPEN_FILES, "the open-file limit")
    missing += _landlock(writable)
    return missing


def forbid_new_processes() -> list[str]:
    """``RLIMIT_NPROC`` 0: no fork and no thread from now on (the kernel exempts root)."""
    if os.geteuid() == 0:
        return ["new processes are not limited: RLIMIT_NPROC does not bind root"]
    return _set_limit(resource.RLIMIT_NPROC, 0, "the process limit")


def _set_limit(which: int, value: int, what: str) -> list[str]:
    try:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and hard < value:
            value = hard
        resource.setrlimit(which, (value, value))
    except (OSError, ValueError) as exc:
        return [f"{what} is not applied ({exc})"]
    return []


def _no_network() -> list[str]:
    """Move into a new network namespace (and user namespace, unless root)."""
    try:
        libc = _libc()
    except OSError as exc:
        return [f"the network stays reachable: no C library to call unshare ({exc})"]
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWNET if root else _CLONE_NEWUSER | _CLONE_NEWNET
    if libc.unshare(ctypes.c_int(flags)) != 0:
        return [f"the network stays reachable: unshare of a network namespace failed ({_errno()}; "
                "user namespaces may be disabled: sysctl user.max_user_namespaces or "
                "kernel.unprivileged_userns_clone)"]  # fmt: skip
    if not root:  # keep our own ids visible inside the namespace (best effort)
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
            try:
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
            except OSError:
                pass
    return []


def _landlock(writable: str) -> list[str]:
    """Refuse writes outside ``writable`` and every program, with Landlock."""
    try:
        libc = _libc()
    except OSError as exc:
        return [f"writes and programs are not restricted: no C library ({exc})"]
    syscall = libc.syscall
    abi = syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                  ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))  # fmt: skip
    if abi < 1:
        why = f"{_errno()}; it needs Linux 5.13 or later, with landlock among its LSMs"
        return [f"writes and programs are not restricted: Landlock is not available ({why})"]
    missing = []
    fs = _FS_EXECUTE | _FS_WRITES | (_FS_REFER if abi >= 2 else 0)
    fs |= _FS_TRUNCATE if abi >= 3 else 0
    net = _NET_TCP if abi >= 4 else 0
    scoped = _SCOPE_ALL if abi >= 6 else 0
    if abi < 6:
        missing.append(f"signals to other processes are not restricted (Landlock ABI {abi} < 6)")
    attr = _RulesetAttr(fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr),
                      ctypes.c_size_t(size), ctypes.c_uint32(0))  # fmt: skip
    if ruleset < 0:
        return [f"writes and programs are not restricted: Landlock refused the rules ({_errno()})"]
    try:
        if writable:
            missing += _allow_writes(syscall, int(ruleset), writable, fs & ~_FS_EXECUTE)
        restrict = ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF)
        if (libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                or syscall(restrict, ctypes.c_long(ruleset), ctypes.c_uint32(0)) != 0):  # fmt: skip
            return [f"writes and programs are not restricted: Landlock failed ({_errno()})"]
    finally:
        os.close(int(ruleset))
    return missing


def _allow_writes(syscall: ctypes._CFuncPtr, ruleset: int, folder: str, access: int) -> list[str]:
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        return [f"the folder {folder} cannot be opened ({exc.strerror}): no writes anywhere"]
    try:
        rule = _PathBeneath(access, fd)
        if syscall(ctypes.c_long(_SYS_LANDLOCK_ADD_RULE), ctypes.c_long(ruleset),
                   ctypes.c_long(_LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule),
                   ctypes.c_uint32(0)) != 0:  # fmt: skip
            return [f"writes beneath {folder} are refused too (Landlock: {_errno()})"]
    finally:
        os.close(fd)
    return []
