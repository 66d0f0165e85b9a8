"""Errors that name the offending file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset file is unusable. The message is one line: `<path>: <problem>`."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the offending key."""
