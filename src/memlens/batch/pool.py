"""The local worker processes of a batch, started warm.

Dask's own process pool starts each worker as a new interpreter (``spawn``) that
imports Dask, then memlens's readers, the analysis, numpy and pyarrow on its
first input: about half a second of CPU per worker before any work, a third on
top of each of two workers' share of a thousand small dumps (1.75 s).  Here
the workers come from a fork server that has imported those modules once: each
worker is a fork of it, ready for its first input.  A fork server rather than
forks of this process, because this process may run threads (a
``distributed`` client, pyarrow's pools) whose locks a child would inherit
locked; the server runs no Python thread and no task (numpy's OpenBLAS threads
there are idle, and OpenBLAS installs a fork handler for them).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver

#: what a worker unpickles to run a task of Dask's local scheduler
_DASK = "dask.multiprocessing"


def start_server(modules: Sequence[str]) -> None:
    """Start the fork server importing ``modules``, without waiting for it, so that
    its imports overlap this process's own work until the first worker is asked for.

    The server is one per process and serves every later pool; its imports are
    fixed when it starts (a later pool's other modules are imported by its
    workers as they need them).
    """
    multiprocessing.get_context("forkserver").set_forkserver_preload([_DASK, *modules])
    forkserver.ensure_running()


def worker_pool(workers: int, modules: Sequence[str]) -> ProcessPoolExecutor:
    """``workers`` processes forked from the server importing ``modules``."""
    start_server(modules)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
