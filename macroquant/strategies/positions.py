"""Stateful position rules shared by the built-ins: enter on one threshold, hold until another.

A position depends on the previous day's, so the rule is a loop over dates; it runs as a
Numba kernel (compiled once, cached) over every instrument, on column-major arrays (the
layout of pandas' blocks, so nothing is copied and each instrument's dates are contiguous).

The loop starts flat. :func:`starting_position` lets the signals engine start it from a
given position instead: run over a trailing slice of history from each of the three
possible positions, a rule whose three results agree on some dates has, on those dates,
the result of the run over all history (which reached the slice's first date in one of
the three positions, and from there saw the same inputs). See
:func:`macroquant.strategies.engine.run_window`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numba
import numpy as np
import pandas as pd

POSITIONS = (-1.0, 0.0, 1.0)
_START: ContextVar[float] = ContextVar("hold_until_exit_start", default=0.0)


@contextmanager
def starting_position(position: float) -> Iterator[None]:
    """Within the block, :func:`hold_until_exit` starts every instrument at ``position``
    (one of ``POSITIONS``) instead of flat."""
    if position not in POSITIONS:
        raise ValueError(f"a starting position is one of {POSITIONS}, not {position}")
    token = _START.set(float(position))
    try:
        yield
    finally:
        _START.reset(token)


def hold_until_exit(
    enter_long: pd.DataFrame,
    exit_long: pd.DataFrame,
    enter_short: pd.DataFrame,
    exit_short: pd.DataFrame,
    known: pd.DataFrame,
) -> pd.DataFrame:
    """Position in {-1, 0, 1} per date and instrument, with hysteresis.

    Each day, in this order: a long is closed when ``exit_long`` holds, a short when
    ``exit_short`` holds; then a flat instrument goes long when ``enter_long`` holds, short
    when ``enter_short`` holds (if both, it stays flat). A long is also closed by
    ``enter_short`` (and a short by ``enter_long``), flipping it. Where ``known`` is False
    (not enough history, missing data) the output is NaN and the position carried unchanged.
    Starts flat (see :func:`starting_position`).
    """
    arrays = [np.asfortranarray(frame.to_numpy(dtype=bool)) for frame in
              (enter_long, exit_long, enter_short, exit_short, known)]
    out = _hold_kernel(*arrays, _START.get())
    return pd.DataFrame(out, index=enter_long.index, columns=enter_long.columns, copy=False)


@numba.njit(cache=True, nogil=True)
def _hold_kernel(el: np.ndarray, xl: np.ndarray, es: np.ndarray, xs: np.ndarray,
                 ok: np.ndarray, start: float) -> np.ndarray:  # pragma: no cover  (compiled)
    rows, cols = el.shape
    out = np.empty((cols, rows)).T  # column-major: each instrument's dates contiguous
    for j in range(cols):
        state = start
        for t in range(rows):
            if not ok[t, j]:
                out[t, j] = np.nan
                continue
            if (state > 0 and (xl[t, j] or es[t, j])) or (state < 0 and (xs[t, j] or el[t, j])):
                state = 0.0
            if state == 0.0:
                if el[t, j] and not es[t, j]:
                    state = 1.0
                elif es[t, j] and not el[t, j]:
                    state = -1.0
            out[t, j] = state
    return out
