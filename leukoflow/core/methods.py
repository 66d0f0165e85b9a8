"""A published method and our variant of it as switches: the paper's value of each switch, the
config section that overrides them per method, and the list of departures a report prints.

A dataset package names its switches, their paper values and the reason for each departure;
`method_switches` and `departures` do the rest, the same way for every dataset.
"""

from __future__ import annotations

from collections.abc import Mapping

METHODS = ("as_published", "ours")
METHOD_TITLES = {"as_published": "As published", "ours": "Ours"}


def method_switches(section: Mapping, method: str, paper_values: Mapping, name: str) -> dict:
    """The switch values `method` runs with: the paper's, replaced by `section[method]`.

    `name` is the config section ("cnmc", "ukm") for the error messages.
    """
    if method not in METHODS:
        raise ValueError(f"unknown {name} method {method!r}; expected one of {METHODS}")
    overrides = section.get(method, {}) or {}
    unknown = sorted(set(overrides) - set(paper_values))
    if unknown:
        raise ValueError(f"{name}.{method}: unknown switches {unknown}; expected {sorted(paper_values)}")
    return {**paper_values, **overrides}


def departures(values: Mapping, paper_values: Mapping, reasons: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(switch, value, why) for every switch whose value is not the paper's, in switch order."""
    return [(key, str(values[key]), reasons[key]) for key, paper in paper_values.items() if values[key] != paper]
