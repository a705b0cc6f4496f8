"""How much of the machine mlprov may use: CPUs and memory, as the process really gets them.

A container or a CI runner often gives a process fewer CPUs than the machine has (an affinity
mask, a cgroup quota), and a scheduled job shares the machine with other work. Thread pools
sized to ``os.cpu_count()`` then oversubscribe the CPUs, and OpenMP's spinning workers slow
every fit several times over when another process holds a core. :func:`limit_threads` sizes
DuckDB's, OpenMP's and BLAS's pools to :func:`usable_cpus`, once per process;
:func:`default_memory_limit` is the share of memory DuckDB may use when the user sets none.

Example:
    >>> usable_cpus() >= 1
    True
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

#: Share of the memory the process may use that DuckDB gets by default.
MEMORY_SHARE = 0.5

_CGROUP = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota)) if quota else cpus)


def _cgroup_cpu_quota() -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, v1 ``cfs_quota_us``), None when unlimited."""
    try:
        text = (_CGROUP / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((_CGROUP / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((_CGROUP / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_memory() -> int:
    """Bytes of memory this process may use: physical memory, capped by a cgroup limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in (_CGROUP / "memory.max", _CGROUP / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_memory_limit() -> str:
    """DuckDB's memory limit when the user sets none: :data:`MEMORY_SHARE` of usable memory.

    Example:
        >>> default_memory_limit().endswith("MB")
        True
    """
    return f"{int(usable_memory() * MEMORY_SHARE) // 2**20}MB"


def is_size(text: str) -> bool:
    """Whether ``text`` is a memory size DuckDB takes, such as ``4GB``, ``800MB`` or ``2GiB``.

    Example:
        >>> is_size("4GB"), is_size("4 gib"), is_size("lots")
        (True, True, False)
    """
    return re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?)?B", text.strip(), re.IGNORECASE) is not None


def limit_threads(cpus: int | None = None) -> int:
    """Size OpenMP's and BLAS's thread pools to ``cpus`` (default :func:`usable_cpus`).

    Sets the environment the pools read when they start (for libraries imported later) unless
    the user set it, makes idle OpenMP workers sleep instead of spinning (a spinning worker
    on a core another process holds slows a fit several times over), and resizes the pools
    already loaded. Call it once, early: the command line does.

    Returns:
        The number of threads the pools may use.
    """
    cpus = cpus or usable_cpus()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(cpus))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(os.environ["OMP_NUM_THREADS"]))
    return cpus
