"""The shape of the synthetic dataset's multi-turn sessions: turns per session and the think time before each
later turn (``--conversation-turn-*``, AIPerf's names; docs/datasets.md).

The dataset that builds the sessions declares these flags (:data:`SESSION_SHAPE_OPTIONS`, registered by
``dataset-synthetic``) and puts what they drew on each session it makes (its ``turns``, each turn's
``delay_ms``); the session flow replays those turns and never reads the flags. ``--conversation-num`` (how
many sessions a run sends, of any session dataset) stays a core setting beside ``--request-count``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from inferload.plugin_options import Flag, given_flags
from inferload.types import OptionsSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

DATASET = "synthetic"
"""The dataset that makes sessions of this shape (this plugin's own)."""


class SessionShapeOptions(BaseModel):
    """Turns per synthetic session and think time between them (means and standard deviations)."""

    conversation_turn_mean: Annotated[float | None, Flag(metavar="TURNS")] = Field(
        None, ge=1, description="turns per synthetic session, mean (default 3)")
    conversation_turn_stddev: Annotated[float, Flag(metavar="TURNS")] = Field(
        0.0, ge=0, description="turns per synthetic session, stddev")
    conversation_turn_delay_mean: Annotated[float, Flag(metavar="MS")] = Field(
        0.0, ge=0, description="think time before each later synthetic turn, ms")
    conversation_turn_delay_stddev: Annotated[float, Flag(metavar="MS")] = Field(
        0.0, ge=0, description="think time stddev, ms")


def check_session_shape(config: ProfileConfig, options: SessionShapeOptions) -> None:
    """ValueError for a session shape that no session of the run would take (it would be ignored): another
    dataset, or a synthetic run that makes single prompts."""
    flags = given_flags(options)
    if not flags:
        return
    if config.dataset != DATASET:
        raise ValueError(f"{', '.join(flags)} shape(s) multi-turn sessions of --dataset {DATASET}, which "
                         f"--dataset {config.dataset} does not make; drop the flag")
    if options.conversation_turn_mean is None and config.conversation_num is None:
        raise ValueError(f"{', '.join(flags)} shape(s) multi-turn sessions, and this run makes none (the "
                         "synthetic dataset makes sessions with --conversation-num or "
                         "--conversation-turn-mean); drop the flag or ask for sessions")


SESSION_SHAPE_OPTIONS = OptionsSpec(
    name="synthetic-sessions", description="Turns and think time of synthetic sessions",
    model=SessionShapeOptions, check=check_session_shape,
    title="multi-turn sessions: turns and think time (--dataset synthetic; docs/datasets.md)")
"""The session shape's :class:`~inferload.types.OptionsSpec`, registered by the synthetic dataset's plugin."""
