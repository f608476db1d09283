"""The local worker processes of a batch, started warm.

Dask's own process pool starts each worker as a new interpreter (``spawn``) that
imports Dask, then memlens's readers, the analysis, numpy and pyarrow on its
first input: about half a second of CPU per worker before any work, which on a
two-CPU machine costs a batch of a thousand small dumps a third of its speed-up
from a second worker.  Here the workers come from a fork server that has
imported those modules once: each worker is a fork of it, ready for its first
input.  A fork server rather than forks of this process, because this process
may run threads (a ``distributed`` client, pyarrow's pools) whose locks a child
would inherit locked.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor


def worker_pool(workers: int, modules: Sequence[str]) -> ProcessPoolExecutor:
    """``workers`` processes forked from a server that has imported ``modules``.

    The server is started by the first pool of this process and serves every later
    one; its imports are fixed then (a later pool's ``modules`` are imported by
    its workers as they need them).
    """
    context = multiprocessing.get_context("forkserver")
    # dask.multiprocessing: what a worker unpickles to run a task of the local scheduler
    context.set_forkserver_preload(["dask.multiprocessing", *modules])
    return ProcessPoolExecutor(workers, mp_context=context)
