"""OpenAI ``/v1/completions``: a prompt in, (streamed) text out."""

from __future__ import annotations

from typing import Any

import msgspec

from inferload import hookimpl
from inferload.endpoint import JSONBodyParser, SSEJSONParser, plain_event_reader, reasoning_text
from inferload.types import EndpointSpec


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name="completions",
            description="OpenAI text completions (prompt, streaming text)",
            path="/v1/completions",
            streaming=True,
            produces_tokens=True,
            factory=CompletionsAdapter,
            recognise=is_completion,
        )
    ]


class CompletionsAdapter:
    """Renders ``prompt`` bodies with ``max_tokens`` (the completions API's only length field; standard
    fields only unless ``--ignore-eos``/``--extra-inputs`` add others); reads ``choices[0].text``."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": config.model,
            "prompt": conversation.text(),
            "stream": bool(config.streaming),
        }
        if conversation.max_output_tokens is not None:
            body["max_tokens"] = conversation.max_output_tokens
        if config.ignore_eos:
            body["ignore_eos"] = True
        if config.streaming:
            body["stream_options"] = {"include_usage": True}
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        if streaming:
            return SSEJSONParser(_text, fast=_plain_event)
        return JSONBodyParser(_text_or_empty, require_output=True)


def _text(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    choices = obj.get("choices")
    if not choices:
        return None, None
    choice = choices[0]
    return choice.get("text"), reasoning_text(choice)


class _PlainChoice(msgspec.Struct, gc=False):
    """A completion choice of text (or none) alone: anything in a field typed None makes the decoder
    refuse the event (``_text`` then reads it); other fields are not read."""

    text: str | None = None
    reasoning_content: None = None
    reasoning: None = None
    finish_reason: Any = None


_plain_event = plain_event_reader(_PlainChoice, "text")
"""The stream parser's ``fast`` reader of a plain completions event (``inferload.endpoint.FastRead``): one
whose first choice is text (or none) without reasoning."""


def _text_or_empty(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    choice = obj["choices"][0]
    text = choice.get("text")
    return ("" if text is None else text), reasoning_text(choice)


def is_completion(obj: object) -> bool:
    """A legacy completion or its chunk (``"object": "text_completion"``)."""
    return isinstance(obj, dict) and obj.get("object") == "text_completion"
