"""Run one stage of a fit on a worker thread while the calling thread goes on with the next one.

Why: on a CPU with few cores, not every stage uses them all. DVI's free layout (layout.umap_layout) is a long
run of small gather/scatter steps that OpenMP barely parallelises (no faster on 2 threads than on 1). The
decoder of epoch t depends only on that epoch's finished encoder, so it can train on one core while the other
lays out epoch t+1 (dvi.py). Each side then runs on half the threads; the stages that do scale (the kNN graph,
the encoder's matmuls) keep all of them.

Torch's CPU thread count is per OS thread under OpenMP: ``torch.set_num_threads`` in the worker sets the
worker's team, and the calling thread's team is narrowed (``resources.torch_threads``) only while a job runs.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from .resources import torch_threads

#: the name prefix of the worker thread
STAGE = "ttvis-stage"


def check_overlap(value):
    """A method's ``overlap`` parameter: True, False or "auto"."""
    if value not in (True, False, "auto"):
        raise ValueError(f"overlap must be True, False or 'auto', not {value!r}")
    return value


def overlap_on(value, device: str) -> bool:
    """Whether ``overlap`` (``check_overlap``) runs stages side by side on ``device``: "auto" on a CPU."""
    return device == "cpu" if value == "auto" else bool(value)


class Pipeline:
    """At most one job at a time. ``submit`` hands a job over; it starts on the worker at the next
    ``alongside`` block (the calling thread's work that may run beside it), and ``wait`` returns its result --
    running it there and then, on all threads, if no block started it (the last epoch's, or every one with
    ``enabled=False``), so a method writes its loop once.

    ``threads``: torch CPU threads of the whole fit; while a job runs, the worker has ``threads // 2`` (at
    least 1) and the calling thread the rest."""

    def __init__(self, enabled: bool, threads: int = 2):
        self.threads = max(1, int(threads))
        self.enabled = bool(enabled) and self.threads >= 2
        self.worker_threads = max(1, self.threads // 2)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=STAGE) if self.enabled else None
        self._queued = None  # (fn, args, kwargs) handed over, not started
        self._job: Future | None = None  # started on the worker

    def _run(self, fn, args, kwargs):
        import torch

        if torch.get_num_threads() != self.worker_threads:  # once: the worker thread keeps its team
            torch.set_num_threads(self.worker_threads)
        return fn(*args, **kwargs)

    def submit(self, fn, *args, **kwargs) -> None:
        """Hand over ``fn(*args, **kwargs)``; collect its result with ``wait``."""
        if self.pending:
            raise RuntimeError("Pipeline.submit: the previous job was not collected (call wait first)")
        self._queued = (fn, args, kwargs)

    @property
    def pending(self) -> bool:
        return self._queued is not None or self._job is not None

    def wait(self):
        """The job's result (None when there is none); an error raised by the job is raised here."""
        queued, self._queued = self._queued, None
        if queued is not None:
            fn, args, kwargs = queued
            return fn(*args, **kwargs)
        job, self._job = self._job, None
        return None if job is None else job.result()

    @contextmanager
    def alongside(self):
        """A block of the calling thread's work that may run beside the handed-over job: the job starts on the
        worker, and the block runs on the threads the worker leaves free. Disabled or without a job, the block
        runs alone on all threads."""
        if self._pool is None or self._queued is None:
            yield
            return
        fn, args, kwargs = self._queued
        self._queued = None
        self._job = self._pool.submit(self._run, fn, args, kwargs)
        with torch_threads(self.threads - self.worker_threads):
            yield

    def close(self) -> None:
        """Wait for a running job (its result is dropped), drop a queued one and stop the worker."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._job = self._queued = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
