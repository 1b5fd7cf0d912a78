"""Dataset and payload preparation: every prompt built and every request body rendered and serialised
before t=0, so no prompt work lands inside a timed window (docs/architecture.md, "Data flow": dataset →
payloads). Also where a request goes and what it carries besides its body: the endpoint type's path
(:func:`request_path`, its ``stream_path`` for streamed requests) and headers (``config.headers_for``:
the endpoint's static headers, ``--api-key`` as the endpoint sends it, ``-H``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from inferload.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from inferload.config import ProfileConfig
    from inferload.dataset import Conversation
    from inferload.registry import PluginRegistry
    from inferload.types import EndpointSpec, TransportSpec


@dataclass
class Payloads:
    """What the dataset and the endpoint adapter made of the run's inputs.

    ``inputs`` are the ``inputs.json`` entries (``{"session_id", "payloads": [body]}``, one per
    conversation, unless a request flow lists them: a multi-turn session one body per turn, without the
    replies known only at run time); ``worker_fields`` the :class:`~inferload.engine.messages.WorkerInit`
    fields every worker shares except ``url``, ``worker_id``, ``counter``, ``max_connections`` and its
    place among the workers (payloads as final bytes; ``flows``, the request flows' worker parts);
    ``probe_body`` the ``--wait-for-model-timeout`` probe: the first prompt asking for one token, not
    streamed (the ``before_load`` hook's ``--wait-for-model-timeout``)."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    worker_fields: dict[str, Any] = field(default_factory=dict)
    probe_body: dict[str, Any] = field(default_factory=dict)
    fixed_offsets_ns: list[int] | None = None
    """A request flow's fixed schedule (a ``--fixed-schedule`` replay): each request's start offset, in
    order, already cut by ``--request-count`` and ``--benchmark-duration``."""
    unit_requests: list[int] | None = None
    """A request flow's units of one pass over the dataset as the requests each sends at most (turns per
    session); None: a unit is a request."""


def prepare_payloads(
    config: ProfileConfig,
    registry: PluginRegistry,
    endpoint: EndpointSpec,
    transport: TransportSpec,
    seed: int,
    tokenizer: Any = None,
) -> Payloads:
    """Build the dataset plugin's conversations and render each through the endpoint adapter.

    ``tokenizer`` is the already resolved ``--tokenizer`` (None: resolved here). Raises UsageError when
    the dataset yields no prompt; a dataset's own errors (a bad ``--input-file`` line) propagate."""
    from inferload.dataset import resolve_tokenizer
    from inferload.dialects import recognisers_of, set_recognisers
    from inferload.engine.flow import plan_flows
    from inferload.plugin_options import factory_keywords

    tokenizer = tokenizer or resolve_tokenizer(registry, config.tokenizer)
    dataset = registry.get("dataset", config.effective_dataset)
    conversations = dataset.factory(
        tokenizer=tokenizer,
        num_entries=config.num_dataset_entries,
        isl_mean=config.isl,
        isl_stddev=config.isl_stddev,
        osl_mean=config.osl,
        osl_stddev=config.osl_stddev,
        seed=seed,
        path=None if config.input_file is None else str(config.input_file),
        conversation_num=config.conversation_num,
        ranks_documents=endpoint.ranks_documents,
        **factory_keywords(config, registry, "dataset", dataset.name),
    )
    if not conversations:
        raise UsageError(
            f"the {config.effective_dataset} dataset produced no prompts; check --num-dataset-entries"
            " or --input-file"
        )
    if endpoint.ranks_documents:
        _check_documents(conversations, endpoint.name, config.effective_dataset)
    dialects = recognisers_of(registry)
    set_recognisers(dialects)  # this process parses too (the --wait-for-model-timeout probe)
    adapter = endpoint.factory()
    # request flows (sessions, a replay's order, cancellation) see the conversations before they are rendered
    flows = plan_flows(config, registry, endpoint, adapter, conversations, seed)
    conversations = list(flows.conversations)
    bodies = [adapter.render(conversation, config) for conversation in conversations]
    one_token = config.model_copy(update={"osl": 1, "osl_stddev": 0.0, "streaming": False})
    inputs = flows.inputs
    if inputs is None:
        inputs = [{"session_id": c.conversation_id, "payloads": [body]}
                  for c, body in zip(conversations, bodies, strict=True)]
    return Payloads(
        inputs=inputs,
        fixed_offsets_ns=flows.offsets_ns,
        unit_requests=flows.unit_requests,
        # the adapter reads the output length from the conversation (max_tokens, max_new_tokens,
        # num_predict …), so the probe's conversation asks for one token too: every dialect's probe is short
        probe_body=adapter.render(replace(conversations[0], max_output_tokens=1), one_token),
        worker_fields={
            # the endpoint type's static headers and --api-key as it sends it (x-api-key …), then -H;
            # every transport's BaseTransport merges them over its built-in headers
            "headers": config.headers_for(endpoint),
            "transport_factory": transport.factory,
            "endpoint_factory": endpoint.factory,
            "streaming": bool(config.streaming),
            "payloads": [
                json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() for body in bodies
            ],
            "conversation_ids": [c.conversation_id for c in conversations],
            "input_tokens": [c.input_tokens for c in conversations],
            "output_tokens": [c.max_output_tokens for c in conversations],
            "request_timeout": config.request_timeout_seconds,
            "output_limited": config.osl is not None,
            "dialects": dialects,
            "tokenizer": tokenizer if endpoint.produces_tokens else None,
            "flows": tuple(flows.plans_for_workers),
        },
    )


def request_path(config: ProfileConfig, endpoint: EndpointSpec) -> str:
    """The path requests go to: ``--endpoint`` when given, else the endpoint type's path for the run's
    mode (:meth:`~inferload.types.EndpointSpec.path_for`: TGI streams to ``/generate_stream``).

    :func:`inferload.urls.request_url` joins it with ``--url`` (the base URL's query at the end)."""
    return config.endpoint or endpoint.path_for(bool(config.streaming))


def _check_documents(conversations: Sequence[Conversation], endpoint: str, dataset: str) -> None:
    """A UsageError when an endpoint type that ranks documents gets a conversation without any (a dataset
    that has no rerank mode, or a file line without ``documents``)."""
    for conversation in conversations:
        if not conversation.documents:
            raise UsageError(
                f"--endpoint-type {endpoint} ranks documents, but the {dataset} dataset gave "
                f"{conversation.conversation_id!r} none; use --dataset synthetic with --rerank-documents N, "
                'or an --input-file whose lines are {"query": ..., "documents": [...]}'
            )
