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

from inferload.engine.cancellation import cancellation_plan
from inferload.engine.sessions import build_session_plan, turn_conversations
from inferload.errors import UsageError

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry
    from inferload.types import EndpointSpec, TransportSpec


@dataclass
class Payloads:
    """What the dataset and the endpoint adapter made of the run's inputs.

    ``inputs`` are the ``inputs.json`` entries (``{"session_id", "payloads": [body]}``, one per
    conversation; a multi-turn session lists one body per turn, without the replies known only at run
    time); ``worker_fields`` the :class:`~inferload.engine.messages.WorkerInit` fields every worker
    shares except ``url``, ``worker_id``, ``counter`` and ``max_connections`` (payloads as final bytes);
    ``probe_body`` the ``--wait-for-model-timeout`` probe: the first prompt asking for one token, not
    streamed (the ``before_load`` hook's ``--wait-for-model-timeout``)."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    worker_fields: dict[str, Any] = field(default_factory=dict)
    probe_body: dict[str, Any] = field(default_factory=dict)
    replay_offsets_ns: list[int] | None = None
    """``--fixed-schedule``: the start offset of each payload, in order (:mod:`inferload.engine.replay`)."""


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
    from inferload.documents import check_documents, document_options
    from inferload.engine.sessions import check_sessions
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
        **config.dataset_options(),
        **factory_keywords(config, registry, "dataset", dataset.name),
        **document_options(config, endpoint, registry),
    )
    replay_offsets_ns = None
    if config.fixed_schedule and conversations:
        from inferload.engine.replay import plan_replay

        replay = plan_replay(config, registry, conversations, seed)
        conversations, replay_offsets_ns = replay.conversations, replay.offsets_ns
    if not conversations:
        raise UsageError(
            f"the {config.effective_dataset} dataset produced no prompts; check --num-dataset-entries"
            " or --input-file"
        )
    check_sessions(conversations, config, endpoint)
    check_documents(conversations, endpoint, config.effective_dataset)
    dialects = recognisers_of(registry)
    set_recognisers(dialects)  # this process parses too (the --wait-for-model-timeout probe)
    adapter = endpoint.factory()
    bodies = [adapter.render(conversation, config) for conversation in conversations]
    sessions = None
    if any(c.turns for c in conversations):
        sessions = build_session_plan(conversations, adapter, config, config.endpoint_type or endpoint.name)
    one_token = config.model_copy(update={"osl": 1, "osl_stddev": 0.0, "streaming": False})
    inputs = [
        {"session_id": c.conversation_id,
         "payloads": [body] if not c.turns else [adapter.render(t, config) for t in turn_conversations(c)]}
        for c, body in zip(conversations, bodies, strict=True)
    ]
    return Payloads(
        inputs=inputs,
        replay_offsets_ns=replay_offsets_ns,
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
            "sessions": sessions,
            "cancellation": cancellation_plan(
                config.request_cancellation_rate, config.cancellation_delay, seed
            ),
        },
    )


def request_path(config: ProfileConfig, endpoint: EndpointSpec) -> str:
    """The path requests go to: ``--endpoint`` when given, else the endpoint type's path for the run's
    mode (:meth:`~inferload.types.EndpointSpec.path_for`: TGI streams to ``/generate_stream``).

    :func:`inferload.urls.request_url` joins it with ``--url`` (the base URL's query at the end)."""
    return config.endpoint or endpoint.path_for(bool(config.streaming))
