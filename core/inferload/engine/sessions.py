"""Multi-turn sessions: the plan made before t=0 (:func:`build_session_plan`) and the runner a worker calls
for each session it starts (:class:`SessionRunner`).

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

import asyncio
import json
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from inferload.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from inferload.dataset import Conversation

DEFAULT_SESSION_HEADER = "X-Session-ID"
"""The affinity header's default name (``--session-id-header``)."""
_MARK = "\x00inferload-session-turn\x00"
_MARK_MESSAGES = json.dumps([{"role": "user", "content": _MARK}], separators=(",", ":")).encode()
_MARK_TEXT = json.dumps(_MARK).encode()


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
        flags = config.session_flags()
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
        history=parse_history(config.conversation_history),
        header=config.session_id_header or None,
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


@dataclass(slots=True)
class SessionTurn:
    """What the worker's ``_send`` needs for one turn instead of a prepared payload."""

    body: bytes
    conversation_id: str
    input_tokens: int
    output_tokens: int | None
    session_id: str
    turn_index: int
    headers: dict[str, str]


class SessionRunner:
    """Starts and runs sessions inside one worker (:class:`inferload.engine.worker.Worker`), whose
    ``_send`` sends each turn and returns its exchange (``record``, ``parser``).

    Concurrency mode: ``slots`` session slots (the worker's share of ``--session-concurrency``, else of
    ``--concurrency``) each run sessions back to back, taking session ids from the shared counter.
    Rate mode: the schedule's entries start sessions, at most ``slots`` open at once when capped.
    ``--concurrency`` below ``--session-concurrency`` also caps the requests in flight: a turn waits for a
    free request slot (its slot wait), and think times hold none."""

    def __init__(self, worker: Any, plan: SessionPlan) -> None:
        self.worker = worker
        self.plan = plan
        self.id_prefix = worker.uuid_prefix[:8]
        self._stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stop(self) -> None:
        """The run stops sending: sessions in a think time end now, not when it is over."""
        if not self._stopped.done():
            self._stopped.set_result(None)

    async def drive(self, cmd: Any) -> None:
        """Run one phase's sessions (``cmd``: its :class:`~inferload.engine.messages.PhaseCommand`)."""
        worker = self.worker
        share = worker.init.session_share
        requests = cmd.concurrency
        slots = share if share is not None else requests
        request_cap = asyncio.Semaphore(requests) if requests and slots and slots > requests else None
        if cmd.schedule is None:
            await worker.sleeper.sleep_until(cmd.t0_ns)
            for _ in range(slots or 1):
                worker.track(asyncio.get_running_loop().create_task(self._slot(cmd, request_cap)))
            return
        session_cap = asyncio.Semaphore(slots) if slots else None
        freed_ns = 0
        for session_id, offset in cmd.schedule:
            due = cmd.t0_ns + offset
            if due > perf_counter_ns():
                await worker.sleeper.sleep_until(due)
            if worker.stopping:
                return
            if session_cap is not None:
                freed = await self._acquire(session_cap)
                if freed < 0:
                    return
                freed_ns = freed or freed_ns
            task = asyncio.get_running_loop().create_task(
                self.run(session_id, due, max(due, freed_ns), request_cap, session_cap)
            )
            worker.track(task)

    async def _acquire(self, cap: asyncio.Semaphore) -> int:
        """Take a slot of ``cap``: 0 when one was free, the time one came free when it had to wait (that
        wait is the server's pace, not the client's lag), -1 (no slot held) when the run stopped meanwhile."""
        held = cap.locked()
        await cap.acquire()
        if self.worker.stopping:
            cap.release()
            return -1
        return perf_counter_ns() if held else 0

    async def _slot(self, cmd: Any, request_cap: asyncio.Semaphore | None) -> None:
        counter, end_id, stop_ns = self.worker.init.counter, cmd.end_id, cmd.stop_ns
        while not self.worker.stopping:
            if stop_ns is not None and perf_counter_ns() >= stop_ns:
                return
            with counter.get_lock():
                session_id = counter.value
                if end_id is not None and session_id >= end_id:
                    return
                counter.value = session_id + 1
            now = perf_counter_ns()
            await self.run(session_id, now, now, request_cap)

    async def run(
        self,
        session_id: int,
        scheduled_ns: int,
        ready_ns: int,
        request_cap: asyncio.Semaphore | None = None,
        session_cap: asyncio.Semaphore | None = None,
    ) -> None:
        """Send session ``session_id``'s turns in order (its template is ``session_id`` modulo the dataset's
        sessions), then free its ``session_cap`` slot. ``scheduled_ns``/``ready_ns`` apply to the first
        turn; each later turn is due when its think time after the previous reply has passed."""
        try:
            await self._turns(session_id, scheduled_ns, ready_ns, request_cap)
        finally:
            if session_cap is not None:
                session_cap.release()

    async def _turns(
        self, session_id: int, scheduled_ns: int, ready_ns: int, request_cap: asyncio.Semaphore | None
    ) -> None:
        plan, worker = self.plan, self.worker
        template = plan.sessions[session_id % len(plan.sessions)]
        key = f"{self.id_prefix}-{session_id}"
        headers = {plan.header: key} if plan.header else {}
        earlier: Earlier = []
        for index, turn in enumerate(template.turns):
            if index:
                if turn.delay_ns:
                    done, _ = await asyncio.wait((self._stopped,), timeout=turn.delay_ns / 1e9)
                    if done:
                        return
                scheduled_ns = ready_ns = perf_counter_ns()
            if worker.stopping:
                return
            if request_cap is not None:
                freed = await self._acquire(request_cap)
                if freed < 0:
                    return
                ready_ns = freed or ready_ns
            body, tokens = turn_body(plan, template, turn, earlier)
            request = SessionTurn(
                body=body,
                conversation_id=template.conversation_id,
                input_tokens=tokens,
                output_tokens=turn.output_tokens,
                session_id=key,
                turn_index=index,
                headers=headers,
            )
            request_id = session_id * plan.stride + index
            exchange = await worker._send(request_id, scheduled_ns, request_cap, ready_ns, request)
            record = exchange.record
            if record.error is not None:
                return
            reply = exchange.parser.answer_text()
            reply_part = (
                reply.encode() if plan.text_mode else _encode({"role": "assistant", "content": reply})
            )
            earlier.append(((*turn.parts, reply_part), turn.input_tokens + (record.output_tokens or 0)))

