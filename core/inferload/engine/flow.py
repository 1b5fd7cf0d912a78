"""Request flows: what a worker sends next and how (public API for ``request_flow`` plugins).

A run's requests are single prompts unless a flow plugin takes part: multi-turn sessions (the next turn
carries the replies the server gave), a trace replay (its entries in their order at their times), a
cancellation timer (some requests abandoned after a delay). Each installed flow is asked once, in the
parent before t=0 (:func:`plan_flows`): its ``prepare(context)`` returns a :class:`FlowPlan` when the run
uses it, else None. What a plan hands the workers (``worker``) is pickled into every
:class:`~inferload.engine.messages.WorkerInit`; each worker calls its ``start(host)`` once, on its event
loop, and then calls the object it got directly: pluggy is never on the hot path.

Inside a worker a flow object may have any of (docs/plugins.md, "Request flows"):

* ``async drive(cmd)``: send one phase (``cmd``: its :class:`~inferload.engine.messages.PhaseCommand`)
  instead of the worker's own single-prompt loops, through the :class:`FlowHost`. At most one flow of a
  run drives.
* ``stop()``: the run stops sending; end any wait (a think time) now.
* ``on_request(request_id, cancel)``: a request is about to be sent; ``cancel(error)`` abandons it (its
  record is ``cancelled``, with ``error``). Return a callable to run when the request ends (a timer's
  cancel), or None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from inferload.errors import InferloadError, UsageError

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation
    from inferload.engine.messages import WorkerInit
    from inferload.records import RequestError, RequestRecord
    from inferload.registry import PluginRegistry
    from inferload.types import EndpointSpec

FLOW_OPTIONS: tuple[str, ...] = ("session_concurrency",)
"""The core settings only a request flow reads (a :class:`~inferload.types.RequestFlowSpec`'s ``options``):
given while no enabled flow takes one, the run stops with a usage error. A flow's own flags are its plugin's
options (``register_options``), refused by name when the plugin is disabled."""


@dataclass(frozen=True)
class FlowContext:
    """What a flow's ``prepare`` sees, in the parent before t=0: the run's ``config``, ``registry``,
    ``endpoint`` type and its ``adapter`` (``render``, ``parser``), the dataset's ``conversations`` (in
    sending order as the flows asked so far left them) and the run's ``seed``."""

    config: ProfileConfig
    registry: PluginRegistry
    endpoint: EndpointSpec
    adapter: Any
    conversations: Sequence[Conversation]
    seed: int


@dataclass(frozen=True)
class FlowPlan:
    """What a flow that takes part in a run contributes, every field optional.

    ``conversations``: the run's conversations in sending order (request id ``i`` sends entry ``i`` modulo
    their number), replacing the dataset's. ``offsets_ns``: a fixed schedule of the profiling phase (start
    offsets in ns from its t0, non-decreasing; one per request), instead of ``--concurrency`` or
    ``--request-rate``. ``unit_requests``: the units (sessions) one pass over the dataset holds, as the
    requests each sends at most (its turns); phases then count units (ids are units), and their progress
    the requests those units send. ``inputs``: the ``inputs.json`` entries, replacing one body per
    conversation. ``worker``: the picklable object each worker calls ``start(host)`` on (module docstring);
    ``drives``: whether the object it starts has ``drive``."""

    conversations: Sequence[Conversation] | None = None
    offsets_ns: Sequence[int] | None = None
    unit_requests: Sequence[int] | None = None
    inputs: list[dict[str, Any]] | None = None
    worker: Any = None
    drives: bool = False


@dataclass
class Flows:
    """The flows a run uses, by name (the parent's result of :func:`plan_flows`)."""

    plans: dict[str, FlowPlan] = field(default_factory=dict)
    conversations: Sequence[Conversation] = ()

    @property
    def offsets_ns(self) -> list[int] | None:
        """The fixed schedule one flow gave, or None."""
        return next((list(p.offsets_ns) for p in self.plans.values() if p.offsets_ns is not None), None)

    @property
    def unit_requests(self) -> list[int] | None:
        """The requests of each unit of one pass one flow gave (turns per session), or None: a unit is a
        request."""
        return next((list(p.unit_requests) for p in self.plans.values() if p.unit_requests is not None), None)

    @property
    def inputs(self) -> list[dict[str, Any]] | None:
        """The ``inputs.json`` entries one flow gave, or None."""
        return next((p.inputs for p in self.plans.values() if p.inputs is not None), None)

    @property
    def plans_for_workers(self) -> tuple[tuple[str, Any], ...]:
        """``(name, part)`` of what every worker starts, in flow order (``WorkerInit.flows``)."""
        return tuple((name, p.worker) for name, p in self.plans.items() if p.worker is not None)


class Exchange(Protocol):
    """A request the host sent for a flow: its finished ``record`` and the reply's text."""

    record: RequestRecord

    def reply_text(self) -> str:
        """The text the server answered (the adapter's parser's ``answer_text()``)."""
        ...


@dataclass(slots=True)
class FlowRequest:
    """What a driving flow sends instead of a prepared payload: the final ``body`` bytes, the record's
    ``conversation_id``, ``input_tokens`` and requested ``output_tokens`` (None: the server decides), its
    ``session_id``/``turn_index`` (None outside sessions) and extra ``headers``."""

    body: bytes
    conversation_id: str
    input_tokens: int
    output_tokens: int | None
    session_id: str | None = None
    turn_index: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FlowHost(Protocol):
    """The worker as a flow sees it. ``init``: its :class:`~inferload.engine.messages.WorkerInit`
    (``worker_index``, ``worker_count``); ``stopping``: the run stops
    sending; ``uuid_prefix``: random per worker, for ids a flow makes."""

    init: WorkerInit
    stopping: bool
    uuid_prefix: str

    async def sleep_until(self, deadline_ns: int) -> None:
        """Sleep until ``deadline_ns`` (``perf_counter_ns``), woken early when the run stops sending."""
        ...

    def next_id(self, end_id: int | None) -> int | None:
        """The next id of the counter all workers share (concurrency mode: ``cmd.end_id``), None once the
        phase's ids are used up."""
        ...

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` until it ends: the phase ends once all tracked tasks have."""
        ...

    async def send(
        self, request_id: int, scheduled_ns: int, cap: asyncio.Semaphore | None = None,
        ready_ns: int | None = None, request: FlowRequest | None = None,
    ) -> Exchange:
        """Send ``request`` (None: the prepared payload of ``request_id``) and return its exchange once
        its record is final; ``cap`` is released when it ends. Never raises for a failed request."""
        ...


def plan_flows(
    config: ProfileConfig, registry: PluginRegistry, endpoint: EndpointSpec, adapter: Any,
    conversations: Sequence[Conversation], seed: int,
) -> Flows:
    """Ask every ``request_flow`` plugin, in name order, whether and how it takes part in the run.

    A flow's UsageError propagates (its flags do not fit the run); any other exception is one
    UsageError naming the plugin and how to disable it. So is a second flow that would drive, a second
    fixed schedule, or a run that needs a flow none installed took (sessions, ``--fixed-schedule``)."""
    _check_options(config, registry)
    flows = Flows(conversations=conversations)
    for name, spec in sorted(registry.all("request_flow").items()):
        context = FlowContext(config=config, registry=registry, endpoint=endpoint, adapter=adapter,
                              conversations=flows.conversations, seed=seed)
        try:
            plan = spec.prepare(context)
        except InferloadError:
            raise
        except Exception as exc:
            provider = registry.provider("request_flow", name)
            raise UsageError(
                f"request flow {name!r} (plugin {registry.describe(provider)}) failed to prepare the run: "
                f"{type(exc).__name__}: {exc}; disable it with --disable-plugin {provider}"
            ) from exc
        if plan is None:
            continue
        _check_joins(flows, name, plan)
        flows.plans[name] = plan
        if plan.conversations is not None:
            flows.conversations = plan.conversations
    _check_needed(config, flows)
    return flows


def _check_options(config: ProfileConfig, registry: PluginRegistry) -> None:
    """A flow flag given while no enabled flow takes it (its plugin disabled) would be ignored: refuse it."""
    taken = {option for spec in registry.all("request_flow").values() for option in spec.options}
    fields = type(config).model_fields
    for name in FLOW_OPTIONS:
        if name not in taken and getattr(config, name) != fields[name].default:
            flag = "--" + name.replace("_", "-")
            raise UsageError(
                f"{flag} is read by a request flow plugin and no enabled one takes it (is it disabled? see "
                f"`inferload plugins`); enable it or drop {flag}"
            )


def _check_joins(flows: Flows, name: str, plan: FlowPlan) -> None:
    for other, taken in flows.plans.items():
        both_schedule = plan.offsets_ns is not None and taken.offsets_ns is not None
        for what, clash in (("drive the requests", plan.drives and taken.drives),
                            ("give the schedule", both_schedule)):
            if clash:
                raise UsageError(
                    f"request flows {other!r} and {name!r} both {what} of this run; drop the flags of one "
                    "or disable its plugin"
                )


def _check_needed(config: ProfileConfig, flows: Flows) -> None:
    """What the dataset or the flags ask for and no flow took: one line, before any request."""
    if any(c.turns for c in flows.conversations) and not any(p.drives for p in flows.plans.values()):
        raise UsageError(
            f"--dataset {config.effective_dataset} made multi-turn sessions and no request flow plugin "
            "sends them (is one disabled? see `inferload plugins`); enable it or use single-turn prompts"
        )
    timed = config.timed_load
    if timed is not None and flows.offsets_ns is None:
        raise UsageError(
            f"{timed.flag} needs a request flow plugin that replays a trace, and none is enabled "
            f"(see `inferload plugins`); enable it or drop {timed.flag}"
        )


def start_flows(parts: Sequence[Any], host: FlowHost) -> list[Any]:
    """Each worker part's in-worker object (``part.start(host)``), in flow order. Called once per worker
    on its loop; an exception propagates and fails the worker's start (a FAILED report, one line)."""
    return [part.start(host) for part in parts]


Watcher = Callable[[int, Callable[["RequestError"], None]], Any]
"""A flow's ``on_request(request_id, cancel)``."""


def request_watchers(flows: Sequence[tuple[str, Any]]) -> tuple[tuple[str, Watcher], ...]:
    """``(name, on_request)`` of the started flows that have one: what the worker calls for each request
    it sends."""
    return tuple(
        (name, flow.on_request) for name, flow in flows if callable(getattr(flow, "on_request", None))
    )
