"""Multi-turn sessions (request flow ``sessions``): the runner each worker calls to start sessions and send
their turns, each turn carrying the replies the server gave to the turns before it.

The flow takes part when the dataset made sessions (conversations with ``turns``); the plan is built before
t=0 (:mod:`inferload_plugins.flows.session_plan`) and pickled once into every worker, which starts one
:class:`SessionRunner` and lets it drive each phase. A turn that fails ends its session: a real client would
not go on without the reply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING

from inferload import hookimpl
from inferload.engine.flow import FlowPlan, FlowRequest
from inferload.engine.schedule import split_concurrency
from inferload.types import OptionsSpec, RequestFlowSpec
from inferload_plugins.flows.session_options import SESSION_FLOW_OPTIONS
from inferload_plugins.flows.session_plan import (
    Earlier,
    SessionPlan,
    build_session_plan,
    check_sessions,
    reply_fragment,
    turn_body,
    turn_conversations,
)

if TYPE_CHECKING:
    from inferload.engine.flow import FlowContext, FlowHost
    from inferload.engine.messages import PhaseCommand


@hookimpl
def register_request_flows() -> list[RequestFlowSpec]:
    return [RequestFlowSpec(name="sessions", description="Multi-turn sessions: each turn after the reply to "
                            "the one before, carrying the conversation so far", prepare=prepare_sessions,
                            options=("session_concurrency",))]


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [SESSION_FLOW_OPTIONS]


def prepare_sessions(context: FlowContext) -> FlowPlan | None:
    """The session plan, when the dataset made sessions; None otherwise. UsageError for session flags on a
    run without sessions and for sessions the endpoint type or the load cannot carry."""
    config, endpoint, adapter = context.config, context.endpoint, context.adapter
    conversations = list(context.conversations)
    check_sessions(conversations, config, endpoint)
    if not any(c.turns for c in conversations):
        return None
    plan = build_session_plan(conversations, adapter, config, config.endpoint_type or endpoint.name)
    inputs = [
        {"session_id": c.conversation_id,
         "payloads": [adapter.render(t, config) for t in turn_conversations(c)] if c.turns
         else [adapter.render(c, config)]}
        for c in conversations
    ]
    turns = [len(session.turns) for session in plan.sessions]
    return FlowPlan(unit_requests=turns, inputs=inputs, drives=True,
                    worker=SessionPart(plan, config.session_concurrency))


@dataclass(frozen=True)
class SessionPart:
    """What every worker gets (pickled once): the plan and ``--session-concurrency`` (None: each worker's
    ``--concurrency`` share)."""

    plan: SessionPlan
    session_concurrency: int | None

    def start(self, host: FlowHost) -> SessionRunner:
        """This worker's runner, with its share of ``--session-concurrency``."""
        share = split_concurrency(self.session_concurrency, host.init.worker_count)[host.init.worker_index]
        return SessionRunner(host, self.plan, share)


class SessionRunner:
    """Starts and runs sessions inside one worker, through its :class:`~inferload.engine.flow.FlowHost`.

    Concurrency mode: ``share`` session slots (the worker's share of ``--session-concurrency``, else of
    ``--concurrency``) each run sessions back to back, taking session ids from the shared counter.
    Rate mode: the schedule's entries start sessions, at most ``share`` open at once when capped.
    ``--concurrency`` below ``--session-concurrency`` also caps the requests in flight: a turn waits for a
    free request slot (its slot wait), and think times hold none."""

    def __init__(self, host: FlowHost, plan: SessionPlan, share: int | None) -> None:
        self.host = host
        self.plan = plan
        self.share = share
        self.id_prefix = host.uuid_prefix[:8]
        self._stopped: asyncio.Future[None] | None = None

    def stop(self) -> None:
        """The run stops sending: sessions in a think time end now, not when it is over."""
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def drive(self, cmd: PhaseCommand) -> None:
        """Run one phase's sessions (``cmd``: its :class:`~inferload.engine.messages.PhaseCommand`)."""
        host = self.host
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        requests = cmd.concurrency
        slots = self.share if self.share is not None else requests
        request_cap = asyncio.Semaphore(requests) if requests and slots and slots > requests else None
        if cmd.schedule is None:
            await host.sleep_until(cmd.t0_ns)
            for _ in range(slots or 1):
                host.track(loop.create_task(self._slot(cmd, request_cap)))
            return
        session_cap = asyncio.Semaphore(slots) if slots else None
        freed_ns = 0
        for session_id, offset in cmd.schedule:
            due = cmd.t0_ns + offset
            if due > perf_counter_ns():
                await host.sleep_until(due)
            if host.stopping:
                return
            if session_cap is not None:
                freed = await self._acquire(session_cap)
                if freed < 0:
                    return
                freed_ns = freed or freed_ns
            task = loop.create_task(self.run(session_id, due, max(due, freed_ns), request_cap, session_cap))
            host.track(task)

    async def _acquire(self, cap: asyncio.Semaphore) -> int:
        """Take a slot of ``cap``: 0 when one was free, the time one came free when it had to wait (that
        wait is the server's pace, not the client's lag), -1 (no slot held) when the run stopped meanwhile."""
        held = cap.locked()
        await cap.acquire()
        if self.host.stopping:
            cap.release()
            return -1
        return perf_counter_ns() if held else 0

    async def _slot(self, cmd: PhaseCommand, request_cap: asyncio.Semaphore | None) -> None:
        end_id, stop_ns = cmd.end_id, cmd.stop_ns
        while not self.host.stopping:
            if stop_ns is not None and perf_counter_ns() >= stop_ns:
                return
            session_id = self.host.next_id(end_id)
            if session_id is None:
                return
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
        plan, host = self.plan, self.host
        template = plan.sessions[session_id % len(plan.sessions)]
        key = f"{self.id_prefix}-{session_id}"
        headers = {plan.header: key} if plan.header else {}
        earlier: Earlier = []
        for index, turn in enumerate(template.turns):
            if index:
                if turn.delay_ns:
                    done, _ = await asyncio.wait((self._stopped,), timeout=turn.delay_ns / 1e9)  # type: ignore[arg-type]
                    if done:
                        return
                scheduled_ns = ready_ns = perf_counter_ns()
            if host.stopping:
                return
            if request_cap is not None:
                freed = await self._acquire(request_cap)
                if freed < 0:
                    return
                ready_ns = freed or ready_ns
            body, tokens = turn_body(plan, template, turn, earlier)
            request = FlowRequest(
                body=body,
                conversation_id=template.conversation_id,
                input_tokens=tokens,
                output_tokens=turn.output_tokens,
                session_id=key,
                turn_index=index,
                headers=headers,
            )
            request_id = session_id * plan.stride + index
            exchange = await host.send(request_id, scheduled_ns, request_cap, ready_ns, request)
            record = exchange.record
            if record.error is not None:
                return
            reply = reply_fragment(plan, exchange.reply_text())
            earlier.append(((*turn.parts, reply), turn.input_tokens + (record.output_tokens or 0)))


