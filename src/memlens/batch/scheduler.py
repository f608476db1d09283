"""Schedule a batch: chunks of inputs as Dask tasks, on this machine or a cluster.

By default the tasks run on Dask's local scheduler with worker processes (no
cluster to start); ``scheduler`` names a ``dask.distributed`` scheduler
address, or ``client`` is a ``distributed.Client`` already made.  On a
distributed cluster a task whose worker died is run again (``retries``): its
files are rewritten under the same names, so no row is lost or doubled.
Inputs already complete in the output folder (same path, size and modification
time, or the same content key) are not scheduled again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memlens.batch import store
from memlens.batch.inputs import content_key, expand
from memlens.batch.store import DoneInput, InputStamp
from memlens.batch.tables import empty_rows
from memlens.batch.tasks import ANALYSES, MODULES, TaskOptions, analyse, error_reason
from memlens.errors import FormatError, MemlensError, UsageError

if TYPE_CHECKING:
    from distributed import Client

#: inputs per task: one task writes one Parquet file per table (small files are slow)
DEFAULT_CHUNK = 16


@dataclass(slots=True)
class BatchResult:
    """What a run did: inputs found, skipped as done, analysed, and failed."""

    inputs: int = 0
    skipped: int = 0
    analysed: int = 0
    errors: int = 0
    chunks: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    chunk: str
    analysed: int
    errors: int


def run_chunk(
    chunk: str, paths: Sequence[str], analysis: str, out: str, known: frozenset[str],
    options: TaskOptions,
) -> ChunkOutcome:  # fmt: skip
    """The task: analyse ``paths`` (skipping content keys in ``known``) and store the rows."""
    rows = empty_rows()
    done: list[DoneInput] = []
    errors = analysed = 0
    for path in paths:
        try:
            stamp = InputStamp.of(path)
            key = content_key(path)
        except (OSError, FormatError) as e:  # unreadable: an errors row, like a corrupt input
            stamp = InputStamp(path, -1, -1)
            key = hashlib.blake2b(path.encode(errors="surrogateescape"), digest_size=16).hexdigest()
            rows["errors"].append({"key": key, "path": path, "analysis": analysis,
                                   "reason": error_reason(e)})  # fmt: skip
            done.append(DoneInput(key, stamp, True))
            errors += 1
            continue
        if key in known:
            done.append(DoneInput(key, stamp, False))
            continue
        result = analyse(path, analysis, key, options)
        errors += bool(result["errors"])
        analysed += 1
        for table, items in result.items():
            rows[table] += items
        done.append(DoneInput(key, stamp, True))
    store.write_chunk(out, chunk, rows, done)
    return ChunkOutcome(chunk, analysed, errors)


def _chunk_id(analysis: str, stamps: Sequence[InputStamp]) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(analysis.encode())
    for s in stamps:
        h.update(f"\0{s.path}\0{s.size}\0{s.mtime_ns}".encode(errors="surrogateescape"))
    return h.hexdigest()


def plan(
    analysis: str, inputs: Sequence[str], out: str, chunk_size: int = DEFAULT_CHUNK
) -> tuple[list[tuple[str, list[str]]], frozenset[str], int, int]:
    """(chunk id, paths) of what is left to do, the content keys already done, and
    how many inputs there are and are skipped.

    Raises:
        UsageError: an unknown analysis, a bad chunk size, or an input that names nothing.
    """
    if analysis not in ANALYSES:
        raise UsageError(f"unknown analysis {analysis!r}; known: {', '.join(ANALYSES)}")
    if chunk_size < 1:
        raise UsageError(f"--chunk must be at least 1, not {chunk_size}")
    files = expand(inputs)
    chunks = store.done_chunks(out)
    seen_stamps = {i.stamp for entries in chunks.values() for i in entries}
    known = frozenset(i.key for entries in chunks.values() for i in entries)
    stamps = [InputStamp.of(f) for f in files]
    todo = [s for s in stamps if s not in seen_stamps]
    planned = []
    for i in range(0, len(todo), chunk_size):
        part = todo[i : i + chunk_size]
        planned.append((_chunk_id(analysis, part), [s.path for s in part]))
    return planned, known, len(files), len(files) - len(todo)


def run_batch(
    analysis: str,
    inputs: Sequence[str],
    out: str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Client | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    retries: int = 3,
    progress: Callable[[int, int], None] | None = None,
    symbol_dirs: Sequence[str] = (),
) -> BatchResult:
    """Analyse every input into the dataset at ``out``.

    Raises:
        UsageError: bad arguments, or no scheduler at ``scheduler``.
        FormatError: the output folder cannot be written.
    """
    planned, known, n_inputs, skipped = plan(analysis, inputs, out, chunk_size)
    options = TaskOptions(symbol_dirs=tuple(os.path.abspath(d) for d in symbol_dirs))
    result = BatchResult(inputs=n_inputs, skipped=skipped)
    os.makedirs(out, exist_ok=True)
    if not planned:
        return result
    outcomes: list[ChunkOutcome]
    if client is not None or scheduler is not None:
        outcomes = _on_cluster(planned, analysis, out, known, options, client, scheduler,
                               retries, progress)  # fmt: skip
    else:
        # no more worker processes than tasks
        n = min(workers or os.cpu_count() or 1, len(planned))
        if n > 1:
            from memlens.batch.pool import start_server

            start_server(MODULES[analysis])  # its imports overlap this process's import of Dask
        outcomes = _locally(planned, analysis, out, known, options, n, progress)
    for o in outcomes:
        result.analysed += o.analysed
        result.errors += o.errors
        result.chunks.append(o.chunk)
    return result


def _locally(
    planned: list[tuple[str, list[str]]], analysis: str, out: str, known: frozenset[str],
    options: TaskOptions, workers: int, progress: Callable[[int, int], None] | None,
) -> list[ChunkOutcome]:  # fmt: skip
    import dask
    from dask.callbacks import Callback

    from memlens.batch.pool import worker_pool

    tasks = [dask.delayed(run_chunk, pure=False)(c, p, analysis, out, known, options)
             for c, p in planned]  # fmt: skip
    finished = [0]

    def _tick(key: object, result: object, dsk: object, state: object, worker_id: object) -> None:
        if isinstance(result, ChunkOutcome):
            finished[0] += 1
            if progress is not None:
                progress(finished[0], len(tasks))

    outcomes: tuple[ChunkOutcome, ...]
    with Callback(posttask=_tick):
        if workers == 1:  # in this process, with no process to start
            outcomes = dask.compute(*tasks, scheduler="synchronous")
        else:
            # chunksize 1: a free worker takes one task at a time (Dask's default hands
            # out six, leaving one worker alone with the last ones)
            with worker_pool(workers, MODULES[analysis]) as pool:
                try:
                    outcomes = dask.compute(*tasks, scheduler="processes", pool=pool,
                                            num_workers=workers, chunksize=1)  # fmt: skip
                except BrokenProcessPool:
                    # what finished is stored (each task writes its own tables)
                    raise MemlensError(
                        f"a local worker process died (killed, or out of memory) after "
                        f"{finished[0]} of {len(tasks)} tasks; the same command resumes"
                    ) from None
    return list(outcomes)


def _on_cluster(
    planned: list[tuple[str, list[str]]], analysis: str, out: str, known: frozenset[str],
    options: TaskOptions, client: Client | None, scheduler: str | None, retries: int,
    progress: Callable[[int, int], None] | None,
) -> list[ChunkOutcome]:  # fmt: skip
    from distributed import Client, as_completed

    own = client is None
    if client is None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as e:
            raise UsageError(f"no Dask scheduler at {scheduler}: {e}") from None
    try:
        futures = [client.submit(run_chunk, c, p, analysis, out, known, options,
                                 key=f"memlens-{c}", retries=retries, pure=False)
                   for c, p in planned]  # fmt: skip
        outcomes = []
        for i, future in enumerate(as_completed(futures), 1):
            outcomes.append(future.result())
            if progress is not None:
                progress(i, len(futures))
        return outcomes
    finally:
        if own:
            client.close()
