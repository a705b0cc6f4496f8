"""Worker processes that leave Ctrl-C to the command.

A Ctrl-C at a terminal reaches every process of the job. A worker that took it as Python's
default KeyboardInterrupt while starting or idle would print a traceback of its own. A worker
that ignored it would run its task on while the command waits to leave. :class:`Workers`
does neither: a worker, started by a submit, inherits SIGINT blocked from its first
instruction, and unblocks it only while it runs a task. A Ctrl-C then ends the task, and the
task's future carries the KeyboardInterrupt; the command, which has its own, stops the pool
on its way out and prints its one line.

Example:
    >>> with Workers(1) as workers:
    ...     workers.submit(str.upper, "in a worker").result()
    'IN A WORKER'
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["Workers"]


class Workers:
    """A pool of ``count`` fresh interpreters (``spawn``: no fork of a threaded process).

    Their tasks are module-level functions of picklable arguments; the interpreters import
    the caller's main module, so a script must guard its entry point with
    ``if __name__ == "__main__"``.
    """

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(count, mp_context=context)

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """``function(*args)`` in a worker."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:  # a worker this starts inherits the mask; a Ctrl-C meanwhile reaches us after
            return self._pool.submit(_interruptible, function, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def close(self) -> None:
        """Stop the workers: tasks not started are dropped, running ones are waited for."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _interruptible(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` with SIGINT unblocked: a KeyboardInterrupt it raises, even one
    pending since the worker started, goes to the task's future (``pthread_sigmask`` runs
    the handlers of signals it unblocks before it returns)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        return function(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
