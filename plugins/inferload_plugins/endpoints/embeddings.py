"""OpenAI ``/v1/embeddings``: text in, vectors out; no output tokens, never streamed."""

from __future__ import annotations

from typing import Any

from inferload import hookimpl
from inferload.endpoint import JSONBodyParser
from inferload.types import EndpointSpec


@hookimpl
def register_endpoints() -> list[EndpointSpec]:
    return [
        EndpointSpec(
            name="embeddings",
            description="OpenAI embeddings (input text, vectors out)",
            path="/v1/embeddings",
            streaming=False,
            produces_tokens=False,
            factory=EmbeddingsAdapter,
        )
    ]


class EmbeddingsAdapter:
    """Renders ``input`` bodies; a response is valid when it carries a ``data`` list."""

    def render(self, conversation: Any, config: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": config.model, "input": conversation.text()}
        body.update(config.extra_body)
        return body

    def parser(self, streaming: bool) -> Any:
        return JSONBodyParser(_vectors)


def _vectors(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    if not isinstance(obj["data"], list):
        raise TypeError("'data' is not a list")
    return None, None
