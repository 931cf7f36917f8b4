"""Which git commit each strategy file is at, read with ``git`` (read-only).

When the strategies folder is inside a git work tree, each file gets the commit that last
changed it (``git log``) and whether the file differs from it (``git status``: modified,
staged or untracked). Everything is tolerant: no ``git`` on PATH, a folder that is not in
a work tree, a repository git refuses (e.g. "dubious ownership") or a command that takes
longer than :data:`GIT_TIMEOUT_SECONDS` give no commit (``None``) and never an error.
``GIT_OPTIONAL_LOCKS=0`` keeps ``git status`` from refreshing the index, so nothing in the
repository is written.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class GitState:
    """A file's last commit (``None`` when unknown) and whether it differs from it."""

    commit: str | None
    dirty: bool | None

    @property
    def short(self) -> str:
        """``1a2b3c4`` / ``1a2b3c4+modified`` / ``not in git``, for messages."""
        if self.commit is None:
            return "untracked" if self.dirty else "not in git"
        return self.commit[:7] + ("+modified" if self.dirty else "")


NOT_IN_GIT = GitState(None, None)


def _git(directory: Path, *args: str) -> str | None:
    """``git -C directory args`` stdout, or None when git is missing or fails."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0",
           "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                              text=True, timeout=GIT_TIMEOUT_SECONDS, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_states(directory: Path, files: list[Path]) -> dict[Path, GitState]:
    """The :class:`GitState` of each of ``files`` (all inside ``directory``), with four
    git calls in all whatever the number of files."""
    directory = directory.resolve()
    names = {path.resolve().relative_to(directory).as_posix(): path for path in files}
    if _git(directory, "rev-parse", "--is-inside-work-tree") is None:
        return {path: NOT_IN_GIT for path in files}
    last: dict[str, str] = {}
    log = _git(directory, "log", "--format=%x00%H", "--name-only", "--relative", "--", ".")
    for block in (log or "").split("\x00")[1:]:
        commit, *changed = block.strip().splitlines()
        for name in changed:
            last.setdefault(name.strip(), commit.strip())
    status = _git(directory, "status", "--porcelain", "--untracked-files=all", "--", ".")
    if status is None:
        return {path: NOT_IN_GIT for path in files}
    prefix = _git(directory, "rev-parse", "--show-prefix") or ""
    # porcelain paths are relative to the repository root; a rename reads "old -> new"
    dirty = {line[3:].split(" -> ")[-1].strip().strip('"').removeprefix(prefix.strip())
             for line in status.splitlines() if len(line) > 3}
    return {path: GitState(last.get(name), name in dirty) for name, path in names.items()}
