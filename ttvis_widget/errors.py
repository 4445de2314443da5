"""The one error type that bad training-dynamics input raises."""
from __future__ import annotations

import os


class TrainingDynamicsError(ValueError):
    """A training-dynamics folder or array is missing, malformed or inconsistent.

    ``path`` names the offending file or folder, ``problem`` says what is wrong with it.
    The message always reads ``"<path>: <problem>"`` so that users see both at once.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")


class UntrustedCodeError(TrainingDynamicsError):
    """Reading this folder needs to run the user's ``model.py``; pass ``trust_model_code=True`` to allow it."""
