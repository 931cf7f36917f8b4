"""The folder is the book: what changed between the strategy files and the stored book.

Pure: the files (:class:`BookFile`) and the strategies the ``strategies`` table holds in
the book (:class:`StoredStrategy`, its ``enabled`` rows) in, a list of
:class:`BookChange` out. The signals stage applies them (``macroquant.pipeline.book``).

- **added**: an enabled file whose name is not in the book (new, or back after a
  retirement);
- **changed**: an enabled file whose configuration or file path differs from the stored
  one; the change carries the differing keys (``parameters.fast_span: 16 -> 20``); a file
  moved or renamed that keeps its ``name`` is a change of source file only;
- **retired**: a strategy of the book whose file is gone or says ``enabled: false``; what
  happens to its positions is ``strategy_book.retired_positions`` (``wind_down`` or
  ``hold``). A strategy retired under ``hold`` whose policy is now ``wind_down`` is retired
  again, to wind down.

A file renamed together with its ``name`` is a new strategy: the old one is retired and the
new one added (they have different histories). When the two configurations are equal but
for the name, both lines say so (``renamed to`` / ``renamed from``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

ChangeKind = Literal["added", "changed", "retired"]
Positions = Literal["wind_down", "hold"]

POSITION_NOTES: dict[str, str] = {
    "wind_down": "positions wound down: it has no target any more, so the orders stage "
                 "closes what it held through the risk stage and the order gate",
    "hold": "positions held (strategy_book.retired_positions: hold): its last targets are "
            "carried every run and `macroquant status` lists it until you restore its file "
            "or set wind_down",
}


@dataclass(frozen=True)
class BookFile:
    """One strategy file as loaded: its name, path, configuration (JSON form) and git
    state."""

    name: str
    source_file: str
    config: dict[str, Any]
    config_hash: str
    enabled: bool
    git_commit: str | None = None
    git_dirty: bool | None = None


@dataclass(frozen=True)
class StoredStrategy:
    """A ``strategies`` row that is in the book (``enabled``); ``retired_on`` is set while
    a retired strategy's positions are held."""

    name: str
    source_file: str
    config: dict[str, Any]
    config_hash: str
    git_commit: str | None = None
    retired_on: date | None = None


@dataclass(frozen=True)
class BookChange:
    """One line of a run's book report."""

    name: str
    change: ChangeKind
    summary: str
    source_file: str = ""
    previous_source_file: str = ""
    git_commit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"parameters": {"fast": 1}}`` -> ``{"parameters.fast": 1}`` (lists kept whole)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """Keys whose values differ, dotted, each ``[old, new]`` (``None`` for a missing side)."""
    before, after = flatten(old), flatten(new)
    return {key: [before.get(key), after.get(key)] for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key)}


def identity_hash(config: dict[str, Any]) -> str:
    """Hash of a configuration without its ``name`` and ``description`` (to recognise a
    strategy renamed with unchanged parameters)."""
    rest = {k: v for k, v in config.items() if k not in ("name", "description")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def describe_diff(diff: dict[str, list[Any]]) -> str:
    """``parameters.fast_span: 16 -> 20; weight: 0.5 -> 0.4``."""
    return "; ".join(f"{key}: {_value(old)} -> {_value(new)}" for key, (old, new) in diff.items())


def _at(commit: str | None, dirty: bool | None) -> str:
    if commit is None:
        return " (untracked in git)" if dirty else ""
    return f" @ {commit[:7]}" + ("+modified" if dirty else "")


def reconcile(files: list[BookFile], stored: list[StoredStrategy],
              retired_positions: Positions) -> list[BookChange]:
    """The changes that make the stored book equal to ``files`` (see the module doc), the
    added first, then the changed, then the retired, each by name."""
    enabled = {f.name: f for f in files if f.enabled}
    disabled = {f.name: f for f in files if not f.enabled}
    book = {s.name: s for s in stored}
    changes: list[BookChange] = []
    for name, file in sorted(enabled.items()):
        row = book.get(name)
        at = _at(file.git_commit, file.git_dirty)
        if row is None or row.retired_on is not None:
            back = "" if row is None else f" (back in the book; retired on {row.retired_on})"
            changes.append(BookChange(name, "added", f"{file.source_file}{at}{back}",
                                      file.source_file, "", file.git_commit,
                                      {"config": file.config}))
            continue
        diff = config_diff(row.config, file.config)
        moved = row.source_file != file.source_file
        if not diff and not moved and row.config_hash == file.config_hash:
            continue
        parts = [describe_diff(diff)] if diff else []
        if moved:
            parts.append(f"source file {row.source_file} -> {file.source_file}"
                         + ("" if diff else " (same name, same parameters)"))
        changes.append(BookChange(name, "changed", "; ".join(parts) + at, file.source_file,
                                  row.source_file if moved else "", file.git_commit,
                                  {"diff": diff}))
    for name, row in sorted(book.items()):
        if name in enabled:
            continue
        if row.retired_on is not None:
            if retired_positions == "wind_down":
                changes.append(BookChange(
                    name, "retired", f"retired on {row.retired_on}, held until now; "
                    f"{POSITION_NOTES['wind_down']}", "", row.source_file, row.git_commit,
                    {"reason": "policy", "positions": "wind_down"}))
            continue
        reason = (f"disabled in its file {disabled[name].source_file} (enabled: false)"
                  if name in disabled else f"its file {row.source_file} is gone")
        changes.append(BookChange(
            name, "retired", f"{reason}; {POSITION_NOTES[retired_positions]}", "",
            row.source_file, row.git_commit,
            {"reason": "disabled" if name in disabled else "file_gone",
             "positions": retired_positions}))
    order = {"added": 0, "changed": 1, "retired": 2}
    changes.sort(key=lambda c: (order[c.change], c.name))
    return _mark_renames(changes, enabled, book, retired_positions)


def _mark_renames(changes: list[BookChange], enabled: dict[str, BookFile],
                  book: dict[str, StoredStrategy], positions: Positions) -> list[BookChange]:
    """Annotate a retirement (file gone) and an addition whose configurations are equal
    but for the name: a rename, which is a retire + new."""
    gone = {identity_hash(book[c.name].config): c.name for c in changes
            if c.change == "retired" and c.details.get("reason") == "file_gone"}
    renamed_to: dict[str, str] = {}
    for change in changes:
        if change.change == "added" and change.name not in book:
            old = gone.get(identity_hash(enabled[change.name].config))
            if old is not None and old not in renamed_to:
                renamed_to[old] = change.name
    if not renamed_to:
        return changes
    renamed_from = {new: old for old, new in renamed_to.items()}
    double = (" (both hold the same positions until the old one is wound down)"
              if positions == "hold" else "")
    out = []
    for change in changes:
        if change.name in renamed_to and change.change == "retired":
            note = (f"; renamed to {renamed_to[change.name]} (same parameters): a rename is "
                    f"a retirement plus a new strategy{double}")
            change = BookChange(change.name, change.change, change.summary + note,
                                change.source_file, change.previous_source_file,
                                change.git_commit,
                                {**change.details, "renamed_to": renamed_to[change.name]})
        elif change.name in renamed_from and change.change == "added":
            old = renamed_from[change.name]
            note = (f"; renamed from {old} ({Path(book[old].source_file).name}, same "
                    "parameters): a new strategy with its own history")
            change = BookChange(change.name, change.change, change.summary + note,
                                change.source_file, change.previous_source_file,
                                change.git_commit, {**change.details, "renamed_from": old})
        out.append(change)
    return out


def report_lines(changes: list[BookChange], start: date, end: date) -> list[str]:
    """The run's book report: a count line, then one line per change."""
    if not changes:
        return []
    counts = {kind: sum(c.change == kind for c in changes)
              for kind in ("added", "changed", "retired")}
    head = (f"strategy book {start}..{end}: " +
            ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    width = max(len(c.name) for c in changes)
    return [head] + [f"  {c.change:<8} {c.name:<{width}}  {c.summary}" for c in changes]
