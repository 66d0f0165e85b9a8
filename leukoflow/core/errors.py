"""Errors that name the offending file and what is wrong with it, and warnings that do the same."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()  # readers decode in a thread pool


class DatasetError(ValueError):
    """A dataset file is unusable. The message is one line: `<path>: <problem>`."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the offending key."""


def warn_once(logger: logging.Logger, path: str | Path, kind: str, problem: str) -> bool:
    """Log the warning `<path>: <problem>` the first time this process meets (`path`, `kind`).

    For input that is used, but changed on the way (a greyscale image made RGB, a crop cut to its
    frame): one line per file in the job's log, however often the job reads the file.

    Parameters
    ----------
    logger : logging.Logger
        Where the warning goes (a job's log file through the root logger's handlers).
    path : str or Path
        The file the warning is about.
    kind : str
        What happened, as a short key: one file can get one warning of each kind.
    problem : str
        The message after `<path>: `.

    Returns
    -------
    bool
        True when the warning was logged now, False when it had been before.
    """
    key = (str(path), kind)
    with _WARNED_LOCK:
        if key in _WARNED:
            return False
        _WARNED.add(key)
    logger.warning("%s: %s", path, problem)
    return True
