"""Thresholds of the data-quality warning checks (spikes, gaps, stale instruments).

Defaults suit daily bars. To change them, point ``MACROQUANT_DATA_QUALITY`` at a YAML file
with any of the fields below (unknown keys are errors), e.g. ``spike_k: 6``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from macroquant.errors import ConfigError

ENV_VAR = "MACROQUANT_DATA_QUALITY"


class QualityConfig(BaseModel):
    """Warning-check thresholds. A warning publishes the row and records a flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spike_k: float = Field(7.0, gt=1, description="a move over k × the recent mean absolute "
                                                  "move (log price) is a spike")
    spike_window: int = Field(20, ge=5, description="moves in the recent mean")
    spike_min_moves: int = Field(10, ge=2, description="moves needed before spikes are judged")
    gap_sessions: int = Field(5, ge=1, description="more missing sessions than this between "
                                                   "two bars of an instrument is a gap")
    stale_sessions: int = Field(5, ge=1, description="an instrument whose last bar is more "
                                                     "sessions than this before the window's "
                                                     "end is stale")


def load_quality_config(environ: dict[str, str] | None = None) -> QualityConfig:
    """The thresholds from ``$MACROQUANT_DATA_QUALITY`` (a YAML file), else the defaults."""
    env = os.environ if environ is None else environ
    path = env.get(ENV_VAR)
    if not path:
        return QualityConfig()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return QualityConfig.model_validate(data)
    except OSError as exc:
        raise ConfigError(path, ENV_VAR, f"cannot read the file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(file)", f"not valid YAML: {exc}") from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "(file)"
        raise ConfigError(path, field, error["msg"]) from exc
