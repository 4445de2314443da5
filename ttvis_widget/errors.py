"""What bad training-dynamics input raises (TrainingDynamicsError) or warns about (TrainingDynamicsWarning)."""
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


class TrainingDynamicsWarning(UserWarning):
    """An entry of a data folder that looks like part of its layout but is not read, where skipping it is safe
    (a stray ``epoch_3.npy.bak``, an epoch folder the manifest does not list, ...). Filter it with
    ``warnings.filterwarnings("ignore", category=TrainingDynamicsWarning)``; make it an error with "error".

    Like the error, ``path`` names the entry and ``problem`` says why it is not read."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")
