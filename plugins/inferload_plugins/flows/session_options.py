"""How the session flow sends the sessions a dataset made: the history each turn carries
(``--conversation-history``) and the affinity header with the session's id (``--session-id-header``)
(docs/datasets.md, "Multi-turn sessions").

The flow that sends the turns declares these flags (:data:`SESSION_FLOW_OPTIONS`, registered by
``flow-sessions``); the turns themselves, their count and think times, come from the dataset.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from inferload.headers import check_header
from inferload.plugin_options import Flag
from inferload.types import OptionsSpec


class SessionFlowOptions(BaseModel):
    """The earlier turns each request carries and the header naming its session."""

    conversation_history: Annotated[str, Flag(metavar="none|full|window:N")] = Field(
        "full", description="earlier turns, with the replies received, each request carries (default full)")
    session_id_header: Annotated[str, Flag(metavar="NAME")] = Field(
        "X-Session-ID",
        description="affinity header with each session's id (default X-Session-ID; '' for none)")

    @field_validator("conversation_history")
    @classmethod
    def _history(cls, value: str) -> str:
        parse_history(value)
        return value.strip().lower()

    @field_validator("session_id_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if value:
            check_header(f"{value}: session")
        return value


def parse_history(value: str) -> int | None:
    """``--conversation-history`` as the number of earlier turns a request carries: None for ``full``
    (all), 0 for ``none``, N for ``window:N``. Raises ValueError naming the accepted forms."""
    text = value.strip().lower()
    if text == "full":
        return None
    if text == "none":
        return 0
    if text.startswith("window:"):
        count = text[len("window:"):]
        if count.isdigit() and int(count) >= 1:
            return int(count)
    raise ValueError(f"{value!r} is not none, full or window:N (N >= 1 earlier turns)")


SESSION_FLOW_OPTIONS = OptionsSpec(name="sessions", description="How sessions are sent",
                                   model=SessionFlowOptions,
                                   title="multi-turn sessions: history and affinity (docs/datasets.md)")
"""The session flow's :class:`~inferload.types.OptionsSpec`, registered by ``flow-sessions``."""
