"""One background thread per widget for the analysis requests of its views, so the comm thread only checks a
message and queues its work (a first computation at an epoch, e.g. events at 60k x 512, can take a second).

Latest wins: a job is queued under a key (its kind and the asking view); a newer job with the same key replaces
one still waiting, so a view hovering across many points computes only the neighbours it ends on. The thread
starts on demand and ends when nothing is queued, so an idle widget holds no thread.
"""
from __future__ import annotations

import collections
import logging
import threading

log = logging.getLogger("ttvis_widget.widget")


class AnalysisWorker:
    """Runs queued jobs (callables that report their own results and errors) one at a time, in order."""

    def __init__(self, name: str = "ttvis-analysis"):
        self.name = name
        self._pending: collections.OrderedDict = collections.OrderedDict()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = False
        self.replaced = 0  # jobs dropped because a newer one with the same key came first (for tests)

    def submit(self, key, job) -> None:
        """Queue ``job`` under ``key`` (replacing a waiting job with the same key) and start the thread if needed."""
        with self._cond:
            if key in self._pending:
                self.replaced += 1
                del self._pending[key]
            self._pending[key] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._thread = None
                    self._busy = False
                    self._cond.notify_all()
                    return
                _, job = self._pending.popitem(last=False)
                self._busy = True
            try:
                job()
            except Exception:  # noqa: BLE001 - a job reports its own errors; this is a bug in one
                log.exception("an analysis job failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued job has run (tests, scripts); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._thread is None and not self._pending, timeout)
