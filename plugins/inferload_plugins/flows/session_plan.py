"""Multi-turn sessions, the plan made before t=0 (:func:`build_session_plan`): every turn's body split around
its history, and the body of a turn after its session's earlier turns (:func:`turn_body`). The runner a
worker calls for each session is :mod:`inferload_plugins.flows.sessions`.

A session's turns go one after another: turn *k* is sent once the reply to turn *k - 1* has arrived and
the turn's think time (``delay_ms``) has passed, and its body carries the earlier turns with the replies the
server actually streamed (``--conversation-history``: ``full``, ``none`` or ``window:N`` earlier turns).

Bodies are still built without the endpoint adapter on the hot path: before t=0 each turn is rendered once
with a marker in place of its messages, and the serialised body is split around the marker into a head and a
tail. A turn's request is then ``head + history + tail`` — byte concatenation of fragments that were JSON-
encoded once (a user message before t=0, a reply once when it arrives). Chat-style adapters, which send
:meth:`~inferload.dataset.Conversation.chat_messages`, get a messages array; prompt-style ones
(completions) get the history as one text, contents joined by newlines.

Every session started gets a run-unique ``session_id`` (recorded on each of its requests and sent in the
affinity header, ``X-Session-ID`` by default, so a router keeps the session on one replica). A turn that
fails ends its session: a real client would not go on without the reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inferload.errors import UsageError
from inferload.plugin_options import given_flags
from inferload_plugins.flows.session_options import SessionFlowOptions, parse_history

if TYPE_CHECKING:
    from collections.abc import Sequence

    from inferload.dataset import Conversation

_MARK = "\x00inferload-session-turn\x00"
_MARK_MESSAGES = json.dumps([{"role": "user", "content": _MARK}], separators=(",", ":")).encode()
_MARK_TEXT = json.dumps(_MARK).encode()


@dataclass(frozen=True)
class TurnPlan:
    """One turn, ready for the wire: ``head`` and ``tail`` of its body around the history, the turn's own
    message fragments (JSON-encoded messages, or JSON-encoded texts in prompt mode), its token count,
    requested output length and think time (ns)."""

    head: bytes
    tail: bytes
    parts: tuple[bytes, ...]
    input_tokens: int
    output_tokens: int | None
    delay_ns: int


@dataclass(frozen=True)
class SessionTemplate:
    """One session of the dataset: its id in the source, system fragments sent before every turn, turns."""

    conversation_id: str
    system: tuple[bytes, ...]
    system_tokens: int
    turns: tuple[TurnPlan, ...]


@dataclass(frozen=True)
class SessionPlan:
    """What every worker needs to run sessions (pickled once into :class:`~inferload.engine.messages.
    WorkerInit`). ``history``: earlier turns a request carries (None: all); ``header``: the affinity
    header's name (None: not sent); ``text_mode``: the endpoint takes one prompt text, not messages;
    ``stride``: request ids of session *s* are ``s * stride + turn``, unique in the run."""

    sessions: tuple[SessionTemplate, ...]
    history: int | None
    header: str | None
    text_mode: bool
    stride: int

    @property
    def turn_count(self) -> int:
        """Turns over all sessions: the requests one pass over the dataset sends."""
        return sum(len(session.turns) for session in self.sessions)


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _split(body: dict[str, Any], endpoint_type: str) -> tuple[bytes, bytes, bool]:
    """Head, tail and text mode of a body rendered with the marker in place of the messages/prompt."""
    raw = _encode(body)
    for marker, text_mode in ((_MARK_MESSAGES, False), (_MARK_TEXT, True)):
        at = raw.find(marker)
        if at >= 0:
            return raw[:at], raw[at + len(marker):], text_mode
    raise UsageError(
        f"--endpoint-type {endpoint_type} does not send its prompt as a messages array or one prompt text, "
        "so it cannot carry a conversation's history; use a chat or completions endpoint for sessions"
    )


def check_sessions(conversations: Sequence[Conversation], config: Any, endpoint: Any) -> None:
    """UsageError (exit 2, before any request) for what a run's sessions, or their absence, make
    impossible: session flags on a run that makes no sessions (they would be ignored); sessions on an
    endpoint type that produces no reply to carry back (embeddings, rerank); sessions with a load that
    changes while the run runs (``--api-token``, ``--load-schedule``, ramps), which drive request slots
    and rate schedules a session runner does not follow yet, so open sessions would be cut short."""
    from inferload.load_plan import is_dynamic

    has_sessions = any(c.turns for c in conversations)
    if not has_sessions:
        flags = config.session_flags() + given_flags(config.options(SessionFlowOptions))
        if flags:
            raise UsageError(
                f"{', '.join(flags)} shape(s) multi-turn sessions, and this run makes none (the synthetic "
                "dataset makes sessions with --conversation-num or --conversation-turn-mean); drop the flag "
                "or ask for sessions"
            )
        return
    if not endpoint.produces_tokens:
        raise UsageError(
            f"--endpoint-type {endpoint.name} produces no reply that a session's next turn could carry; "
            "use a chat or completions endpoint for sessions"
        )
    if is_dynamic(config):
        raise UsageError(
            "multi-turn sessions run at a fixed load: --api-token (live control), --load-schedule and the "
            "ramp flags do not apply to them yet; drop those flags or run single-turn prompts"
        )


def build_session_plan(
    conversations: list[Conversation], adapter: Any, config: Any, endpoint_type: str
) -> SessionPlan:
    """Render every turn of every session (each conversation with ``turns``) into its head and tail.

    Raises UsageError when the endpoint cannot carry history or its parser cannot give the reply text."""
    from inferload.dataset import Conversation

    if not callable(getattr(adapter.parser(bool(config.streaming)), "answer_text", None)):
        raise UsageError(
            f"--endpoint-type {endpoint_type} does not report a reply's text, which a session's next turn "
            "sends back; use a chat or completions endpoint for sessions"
        )
    options = config.options(SessionFlowOptions)
    sessions = []
    text_mode = False
    for conversation in conversations:
        turns = conversation.turns or ()
        system = ({"role": "system", "content": conversation.system},) if conversation.system else ()
        planned = []
        for turn in turns:
            marked = Conversation(
                conversation_id=conversation.conversation_id,
                prompt=_MARK,
                input_tokens=turn.input_tokens,
                max_output_tokens=turn.max_output_tokens,
                messages=({"role": "user", "content": _MARK},),
            )
            head, tail, text_mode = _split(adapter.render(marked, config), endpoint_type)
            planned.append(
                TurnPlan(
                    head=head,
                    tail=tail,
                    parts=tuple(_fragment(message, text_mode) for message in turn.messages),
                    input_tokens=turn.input_tokens,
                    output_tokens=turn.max_output_tokens,
                    delay_ns=round(turn.delay_ms * 1e6),
                )
            )
        sessions.append(
            SessionTemplate(
                conversation_id=conversation.conversation_id,
                system=tuple(_fragment(message, text_mode) for message in system),
                system_tokens=conversation.input_tokens - (turns[0].input_tokens if turns else 0),
                turns=tuple(planned),
            )
        )
    return SessionPlan(
        sessions=tuple(sessions),
        history=parse_history(options.conversation_history),
        header=options.session_id_header or None,
        text_mode=text_mode,
        stride=max(len(session.turns) for session in sessions),
    )


def turn_conversations(conversation: Conversation) -> list[Conversation]:
    """Each turn of a session as a conversation of its own (the system prompt, then the turn's messages):
    what ``inputs.json`` lists for a session, the replies being known only at run time."""
    from inferload.dataset import Conversation

    system = ({"role": "system", "content": conversation.system},) if conversation.system else ()
    return [
        Conversation(
            conversation_id=conversation.conversation_id,
            prompt="\n".join(str(m["content"]) for m in turn.messages),
            input_tokens=turn.input_tokens,
            max_output_tokens=turn.max_output_tokens,
            messages=(*system, *turn.messages),
        )
        for turn in conversation.turns or ()
    ]


def _fragment(message: Any, text_mode: bool) -> bytes:
    """A message as the body carries it: the JSON object, or (text mode) its content's UTF-8 text."""
    return str(message["content"]).encode() if text_mode else _encode(dict(message))


Earlier = list[tuple[tuple[bytes, ...], int]]
"""A session's earlier turns as a request carries them: per turn, its fragments (the user's messages, then
the reply as received) and their tokens (the turn's input plus the reply's output)."""


def turn_body(
    plan: SessionPlan, template: SessionTemplate, turn: TurnPlan, earlier: Earlier
) -> tuple[bytes, int]:
    """The request body of ``turn`` after the ``earlier`` turns of its session, and its input tokens: the
    system fragments, the earlier turns ``--conversation-history`` keeps, then the turn's own messages,
    joined as a messages array (or, in text mode, one prompt string) between the turn's head and tail."""
    shown = earlier if plan.history is None else earlier[len(earlier) - plan.history :]
    parts = [*template.system]
    tokens = template.system_tokens + turn.input_tokens
    for fragments, count in shown:
        parts.extend(fragments)
        tokens += count
    parts.extend(turn.parts)
    if plan.text_mode:
        return turn.head + _encode(b"\n".join(parts).decode()) + turn.tail, tokens
    return turn.head + b"[" + b",".join(parts) + b"]" + turn.tail, tokens


def reply_fragment(plan: SessionPlan, reply: str) -> bytes:
    """The reply as the next turns carry it: an assistant message, or (text mode) its text."""
    return reply.encode() if plan.text_mode else _encode({"role": "assistant", "content": reply})
