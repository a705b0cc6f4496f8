"""Figures drawn in worker processes while the caller goes on.

A report's drill-down pages hold dozens of lineage drawings, and drawing them (matplotlib,
which holds the GIL) was most of a report's time. :class:`Drawings` hands them to worker
processes (:class:`~mlprov.provenance.workers.Workers`), one per usable CPU, while the report
runs its pruning simulation; with one CPU, or only a few figures, it draws them in the caller
instead. A drawing is a module-level function of picklable arguments that returns the
figure's PNG as base64 text, so the bytes are the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from mlprov.provenance.resources import usable_cpus
from mlprov.provenance.workers import Workers

#: Fewer figures than this are drawn in the caller: starting the workers (each imports
#: matplotlib and pandas) would cost more than it saves.
POOLED_FROM = 12


class Drawings:
    """Draw figures, in worker processes where that pays.

    Args:
        figures: how many figures will be drawn.
        workers: worker processes; default one per usable CPU (none when that is one).

    Example:
        >>> with Drawings(figures=1) as drawings:
        ...     drawings.draw(str.upper, "drawn in the caller").result()
        'DRAWN IN THE CALLER'
    """

    def __init__(self, figures: int, workers: int | None = None) -> None:
        workers = usable_cpus() if workers is None else workers
        self._pool: Workers | None = None
        if workers > 1 and figures >= POOLED_FROM:
            self._pool = Workers(min(workers, figures))

    def draw(self, function: Callable[..., str], *args: Any) -> Future[str]:
        """``function(*args)``: its result now, or once a worker has drawn it."""
        if self._pool is not None:
            return self._pool.submit(function, *args)
        done: Future[str] = Future()
        done.set_result(function(*args))
        return done

    def close(self) -> None:
        """Stop the workers: drawings not started are dropped, those drawing are finished
        (or, on a Ctrl-C, interrupted)."""
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Drawings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
