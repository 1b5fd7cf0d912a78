"""``--executor ray``: workers as Ray actors spread over a Ray cluster; this process stays the driver that
receives every record (docs/scale-out.md).

``--ray-address`` joins a cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); without it a local Ray
instance starts for the run and is shut down at its end. ``--ray-workers N`` actors (default: one per
alive node) are placed with Ray's ``SPREAD`` strategy, each asking for ``--ray-worker-resources``
(default ``CPU=1``). Each actor runs the engine's worker loop (:mod:`~inferload_plugins.executors.ray_actor`);
the driver reads each one through a :class:`~inferload_plugins.executors.ray_link.WorkerLink`, so the
engine's phase loop, aggregation and artifacts are the ones the local executor uses. Request ids come
from a small actor on the driver's node in leased blocks (:mod:`~inferload_plugins.executors.ray_counter`).

Needs the ``ray`` extra: ``pip install 'inferload[ray]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, field_validator

from inferload import hookimpl
from inferload.errors import UsageError
from inferload.plugin_options import Flag
from inferload.types import ExecutorSpec, OptionsSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig

log = logging.getLogger("inferload.profile")

MISSING_EXTRA = "--executor ray needs the 'ray' extra: pip install 'inferload[ray]'"
DEFAULT_RESOURCES = {"CPU": 1.0}
HEAD_RESOURCE = "node:__internal_head__"
"""The resource Ray gives its head node alone."""
START_LEAD_NS = 300_000_000
"""A phase starts this far after its command is sent: a command crosses Ray in a few ms (tens under
load), and every worker must have it before t0."""


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name="ray",
            description="Worker actors on a Ray cluster (--ray-address; needs 'inferload[ray]')",
            factory=RayExecutor,
            check=check_ray_installed,
        )
    ]


class RayOptions(BaseModel):
    """``--ray-address``, ``--ray-workers``, ``--ray-worker-resources``."""

    ray_address: Annotated[str | None, Flag(metavar="ADDR")] = Field(
        None, description="the cluster to join: auto, HOST:PORT or ray://HOST:PORT (default: start a local "
        "Ray instance, shut down at the end)")
    ray_workers: Annotated[int | None, Flag(metavar="N")] = Field(
        None, ge=1, description="worker actors, spread over the nodes (default: one per alive node)")
    ray_worker_resources: Annotated[dict[str, float] | None, Flag(metavar="RES")] = Field(
        None, description="what each worker actor asks Ray for: 'CPU=1,NAME=AMOUNT' or a JSON object "
        "(default CPU=1)")

    @field_validator("ray_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty: 'auto', 'HOST:PORT' or 'ray://HOST:PORT'")
        return None if value is None else value.strip()

    @field_validator("ray_worker_resources", mode="before")
    @classmethod
    def _resources(cls, value: Any) -> Any:
        return parse_resources(value)


@hookimpl
def register_options() -> list[OptionsSpec]:
    return [OptionsSpec(name="ray", description="--executor ray", model=RayOptions,
                        title="--executor ray (docs/scale-out.md)", applies_to=("executor", ("ray",)))]


def parse_resources(value: Any) -> Any:
    """``--ray-worker-resources``: a JSON object or ``NAME=AMOUNT[,NAME=AMOUNT…]`` -> ``{name: amount}``;
    ValueError naming the fix for anything else. Mappings (from a -f file) pass through to validation."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not a JSON object ({exc.msg}): give e.g. '{{\"CPU\": 1}}' or 'CPU=1'"
            ) from None
    resources = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, amount = part.partition("=")
        try:
            resources[name.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValueError(f"{part!r} is not NAME=AMOUNT: give e.g. 'CPU=1' or 'CPU=0.5,accelerator=1'")
    if not resources:
        raise ValueError("is empty: give e.g. 'CPU=1' or '{\"CPU\": 1}'")
    return resources


def check_ray_installed(**_: Any) -> None:
    """UsageError naming the extra when Ray cannot be imported (before anything starts)."""
    from inferload.config import require_extra

    try:
        require_extra("--executor ray", "ray", "ray")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class RayWorkerHandle:
    """The engine's handle on one worker actor (see :class:`inferload.engine.executor.WorkerHandle`)."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self.worker_id = link.worker_id
        self.conn = link.conn

    @property
    def pid(self) -> int | None:
        """The actor's process id on its node (another machine's, possibly)."""
        return self.link.pid

    @property
    def exitcode(self) -> int | None:
        return self.link.exitcode

    def is_alive(self) -> bool:
        return self.link.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self.link.thread.join(timeout)

    def kill(self) -> None:
        if self.link.thread.is_alive():
            self.link.kill()
            self.link.thread.join(1.0)


class RayExecutor:
    """Connects to (or starts) Ray for one run; ``close()`` shuts down a Ray instance it started."""

    start_lead_ns = START_LEAD_NS

    def __init__(self, config: ProfileConfig | None = None, **_: Any) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError(MISSING_EXTRA) from None
        self.config = config
        self.options = config.options(RayOptions) if config is not None else RayOptions()
        self.address = self.options.ray_address
        self.resources = dict(self.options.ray_worker_resources or DEFAULT_RESOURCES)
        self.started_here = False
        self.ids_actor: Any = None
        if not ray.is_initialized():
            self._init(ray)

    def _init(self, ray: Any) -> None:
        options: dict[str, Any] = dict(
            logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False,
            configure_logging=False,
        )
        if self.address is None:
            # a local instance for this run: as many logical CPUs as the workers ask for (they wait on the
            # network, not the CPU), at least this machine's cores
            workers = self.config.workers if self.config is not None else None
            wanted = self.options.ray_workers or workers or 1
            options["num_cpus"] = max(os.cpu_count() or 1, int(wanted * self.resources.get("CPU", 0)) + 1)
            self.started_here = True
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self.started_here = False
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(
                f"cannot connect to the Ray cluster at --ray-address {self.address}: {reason}"
            ) from None
        if self.started_here:
            log.info("started a local Ray instance for this run (no --ray-address)")

    def default_workers(self) -> int | None:
        """``--ray-workers``, else one per alive node; None for a local instance (as useful for the cores)."""
        if self.options.ray_workers:
            return self.options.ray_workers
        if self.started_here:
            return None
        import ray

        return max(1, sum(1 for node in ray.nodes() if node.get("Alive")))

    def shared_counter(self) -> Any:
        """The next request id: an actor on the head node (without which the cluster is gone anyway), so
        that losing any worker node leaves it standing."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from inferload_plugins.executors.ray_counter import PhaseIds, RequestIds

        head = next((node["NodeID"] for node in ray.nodes()
                     if node.get("Alive") and HEAD_RESOURCE in node.get("Resources", {})), None)
        home = head or ray.get_runtime_context().get_node_id()
        # hard affinity when the head is known: a soft one may place the actor on a worker node, whose loss
        # would then take every survivor's next lease with it
        self.ids_actor = ray.remote(RequestIds).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(home, soft=head is None)
        ).remote()
        return PhaseIds(self.ids_actor)

    def start(self, target: Callable[..., None], inits: Sequence[Any]) -> list[RayWorkerHandle]:
        """One actor per init, spread over the nodes. ``target`` (the local worker's process entry) is
        not used: each actor runs the engine's worker loop in a thread, with its own watch on the driver
        in place of the process-level parent-death signal."""
        import ray

        from inferload_plugins.executors.ray_actor import WorkerActor
        from inferload_plugins.executors.ray_counter import LeasedIds
        from inferload_plugins.executors.ray_link import WorkerLink

        resources = dict(self.resources)
        num_cpus = resources.pop("CPU", 0.0)
        num_gpus = resources.pop("GPU", 0.0)
        actor_class = ray.remote(WorkerActor)
        handles = []
        for init in inits:
            actor = actor_class.options(
                num_cpus=num_cpus, num_gpus=num_gpus, resources=resources or None,
                scheduling_strategy="SPREAD", max_concurrency=4, max_restarts=0,
            ).remote(init.worker_id)
            counter = LeasedIds(self.ids_actor, init.worker_id, init.max_connections)
            leased = dataclasses.replace(init, counter=counter)
            handles.append(RayWorkerHandle(WorkerLink(init.worker_id, actor, leased)))
        for handle in handles:
            handle.link.thread.start()
        return handles

    def close(self) -> None:
        """Release the ids actor; shut down the Ray instance this run started."""
        import ray

        if self.ids_actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(self.ids_actor)
            self.ids_actor = None
        if self.started_here:
            self.started_here = False
            with contextlib.suppress(Exception):
                ray.shutdown()
