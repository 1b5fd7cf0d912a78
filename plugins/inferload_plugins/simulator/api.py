"""The OpenAI wire format: request validation and response rendering for chat, completions, embeddings.

Validation follows OpenAI and vLLM where clients can tell the difference (400 with ``param`` naming the
bad field, 404 ``model_not_found`` with ``--strict-model``); fields the simulator does not model
(temperature, top_p, logprobs …) are accepted and ignored. Streamed events are built from per-request
byte templates: generated text is plain ASCII words (see :mod:`.text`), so no per-chunk JSON encoding is
needed on the hot path.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from functools import lru_cache
from itertools import count
from typing import TYPE_CHECKING, Any

from .model import output_length
from .text import TokenTape, count_tokens, embedding_vector

if TYPE_CHECKING:
    from .config import SimulatorConfig

DONE_EVENT = b"data: [DONE]\n\n"
COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's (and vLLM's) default ``max_tokens`` for the legacy completions API."""

_ids = count(1)


class ApiError(Exception):
    """A request the simulator refuses, with its HTTP status and OpenAI error fields."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@lru_cache(maxsize=64)
def _json_string(text: str) -> bytes:
    """A JSON string literal; cached because every chunk of every stream repeats the model name."""
    return _dumps(text)


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object, or a 400."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(data).__name__}")
    return data


def model_of(data: dict[str, Any], config: SimulatorConfig) -> str:
    model = data.get("model")
    if model is None:
        return config.served_model_name
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' must be a non-empty string", param="model")
    if config.strict_model and model != config.served_model_name:
        raise ApiError(404, f"The model `{model}` does not exist.", param="model", code="model_not_found")
    return model


def _optional_int(data: dict[str, Any], name: str, minimum: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ApiError(400, f"'{name}' must be an integer >= {minimum}, got {value!r}", param=name)
    return value


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"'{name}' must be true or false, got {value!r}", param=name)
    return value


def _message_texts(messages: Any) -> list[str]:
    """The text of every message's content, in order (counted one by one: no template overhead)."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of messages", param="messages")
    texts = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a 'role'", param="messages")
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(part["text"] for part in content
                         if isinstance(part, dict) and part.get("type") == "text"
                         and isinstance(part.get("text"), str))
        elif content is not None:
            raise ApiError(400, f"messages[{i}].content must be a string or a list of parts",
                           param="messages")
    return texts


def _is_token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value)


def _prompt(prompt: Any) -> tuple[str, int]:
    """The prompt's text (for seeding) and token count; token-id prompts count their ids."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt, count_tokens(prompt)
    if _is_token_ids(prompt):
        return " ".join(map(str, prompt)), len(prompt)
    if isinstance(prompt, list) and len(prompt) > 1:
        raise ApiError(400, "the simulator takes one prompt per request; send a batch as separate requests",
                       param="prompt")
    raise ApiError(400, "'prompt' must be a string or a list of token ids", param="prompt")


def decide_output(
    config: SimulatorConfig, tape: TokenTape, kind: str, text: str, prompt_tokens: int, *,
    max_tokens: int | None, ignore_eos: bool, reasoning: bool, seed: str | None, param: str,
) -> tuple[int, str, int, list[bytes]]:
    """One request's output, the same rule on every route: ``(output_tokens, finish_reason,
    reasoning_tokens, tokens)``. A prompt that fills the context is a 400 naming ``param``."""
    # max tokens asked for is the exact length unless --natural-stop: what --osl needs, and what a
    # real server does with ignore_eos (which strict servers reject, so inferload does not send it)
    ignore_eos = ignore_eos or (max_tokens is not None and not config.natural_stop)
    limit = config.max_model_len - prompt_tokens
    if limit < 1:
        raise ApiError(
            400,
            f"This model's maximum context length is {config.max_model_len} tokens. However, your "
            f"request has {prompt_tokens} input tokens. Please reduce the length of the input.",
            param=param, code="context_length_exceeded",
        )
    offset, uniform = tape.draw(kind, text, "" if seed is None else seed)
    planned = config.reasoning_tokens if reasoning else 0
    output_tokens, finish_reason = output_length(
        uniform, max_tokens=max_tokens, ignore_eos=ignore_eos, limit=limit,
        mean=config.output_len_mean, sigma=config.output_len_sigma, reasoning=planned,
    )
    return output_tokens, finish_reason, min(planned, output_tokens), tape.tokens(offset, output_tokens)


def next_id(prefix: str) -> str:
    """A process-unique response id (``prefix-sim000000000001``)."""
    return f"{prefix}-sim{next(_ids):012d}"


class Generation:
    """One accepted chat or completions request: its output decided up front, and its wire templates."""

    __slots__ = (
        "_close", "_content_open", "_reasoning_open", "cached_tokens", "chat", "created", "finish_reason",
        "id", "include_usage", "model", "output_tokens", "prompt_parts", "prompt_tokens", "reasoning_tokens",
        "stream", "tokens",
    )

    def __init__(self, data: dict[str, Any], config: SimulatorConfig, tape: TokenTape, *, chat: bool) -> None:
        self.chat = chat
        self.model = model_of(data, config)
        if chat:
            texts = _message_texts(data.get("messages"))
            self.prompt_parts = texts
            text = "\n".join(texts)
            self.prompt_tokens = sum(count_tokens(part) for part in texts)
            max_tokens = _optional_int(data, "max_completion_tokens", 1)
            if max_tokens is None:
                max_tokens = _optional_int(data, "max_tokens", 1)
        else:
            if "prompt" not in data:
                raise ApiError(400, "'prompt' is required", param="prompt")
            text, self.prompt_tokens = _prompt(data["prompt"])
            self.prompt_parts = [text]
            max_tokens = _optional_int(data, "max_tokens", 1)
        self.cached_tokens: int | None = None
        """Prompt tokens served from the prefix cache (set by the app when caching is on)."""
        n = data.get("n")
        if n not in (None, 1):
            raise ApiError(400, f"the simulator supports n=1 only, got n={n!r}", param="n")
        self.stream = _flag(data, "stream")
        options = data.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise ApiError(400, "'stream_options' must be an object", param="stream_options")
        self.include_usage = bool(options and options.get("include_usage"))
        if max_tokens is None and not chat:
            max_tokens = COMPLETIONS_DEFAULT_MAX_TOKENS
        seed = data.get("seed")
        self.output_tokens, self.finish_reason, self.reasoning_tokens, self.tokens = decide_output(
            config, tape, "chat" if chat else "completion", text, self.prompt_tokens,
            max_tokens=max_tokens, ignore_eos=_flag(data, "ignore_eos"), reasoning=chat,
            seed=None if seed is None else str(seed), param="messages" if chat else "prompt",
        )
        self.id = next_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())
        if self.stream:
            self._templates()

    def _templates(self) -> None:
        chat = self.chat
        envelope = (
            b'data: {"id":"' + self.id.encode() + b'","object":"'
            + (b"chat.completion.chunk" if chat else b"text_completion")
            + b'","created":%d,"model":' % self.created + _json_string(self.model) + b',"choices":['
        )
        self._close = b'"},"logprobs":null,"finish_reason":null}]}\n\n' if chat else \
            b'","logprobs":null,"finish_reason":null}]}\n\n'
        if chat:
            self._content_open = envelope + b'{"index":0,"delta":{"content":"'
            self._reasoning_open = envelope + b'{"index":0,"delta":{"reasoning_content":"'
        else:
            self._content_open = self._reasoning_open = envelope + b'{"index":0,"text":"'

    # -- streaming ---------------------------------------------------------------------------------

    def role_event(self) -> bytes:
        """The chat stream's opening event, sent together with the first tokens."""
        if not self.chat:
            return b""
        return self._content_open[: -len(b'"content":"')] + b'"role":"assistant","content":""' \
            + self._close[1:]

    def token_events(self, start: int, end: int) -> bytes:
        """SSE events carrying tokens ``start:end`` (two events if the slice crosses the reasoning end)."""
        split = self.reasoning_tokens
        if end <= split:
            return self._reasoning_open + b"".join(self.tokens[start:end]) + self._close
        if start >= split:
            return self._content_open + b"".join(self.tokens[start:end]) + self._close
        return (self._reasoning_open + b"".join(self.tokens[start:split]) + self._close
                + self._content_open + b"".join(self.tokens[split:end]) + self._close)

    def malformed_event(self) -> bytes:
        """A well-framed SSE event whose JSON is cut off mid-string."""
        return self._content_open + b"trunc\n\n"

    def final_events(self) -> bytes:
        """Finish-reason event, optional usage event, and ``[DONE]``."""
        head = self._content_open[: self._content_open.index(b'"choices":[')]
        if self.chat:
            finish = head + b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"%s"}]}\n\n'
        else:
            finish = head + b'"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"%s"}]}\n\n'
        events = finish % self.finish_reason.encode()
        if self.include_usage:
            events += head + b'"choices":[],"usage":' + _dumps(self.usage()) + b"}\n\n"
        return events + DONE_EVENT

    # -- whole responses ---------------------------------------------------------------------------

    def usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.prompt_tokens + self.output_tokens,
        }
        if self.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage

    def body(self) -> bytes:
        """The non-streaming response body."""
        answer = b"".join(self.tokens[self.reasoning_tokens:]).decode()
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": answer}
            if self.reasoning_tokens:
                message["reasoning_content"] = b"".join(self.tokens[: self.reasoning_tokens]).decode()
            choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None,
                                      "finish_reason": self.finish_reason}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": answer, "logprobs": None, "finish_reason": self.finish_reason}
            kind = "text_completion"
        return _dumps({"id": self.id, "object": kind, "created": self.created, "model": self.model,
                       "choices": [choice], "usage": self.usage()})


class Embeddings:
    """One accepted embeddings request."""

    __slots__ = ("base64", "dim", "inputs", "model", "prompt_tokens")

    def __init__(self, data: dict[str, Any], config: SimulatorConfig) -> None:
        self.model = model_of(data, config)
        raw = data.get("input")
        if isinstance(raw, str) or _is_token_ids(raw):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise ApiError(400, "'input' must be a string, a list of strings or a list of token-id lists",
                           param="input")
        self.inputs: list[str] = []
        self.prompt_tokens = 0
        for item in raw:
            if isinstance(item, str):
                self.inputs.append(item)
                self.prompt_tokens += count_tokens(item)
            elif _is_token_ids(item):
                self.inputs.append(" ".join(map(str, item)))
                self.prompt_tokens += len(item)
            else:
                raise ApiError(400, "each 'input' item must be a string or a list of token ids",
                               param="input")
        dim = _optional_int(data, "dimensions", 1)
        self.dim = config.embedding_dim if dim is None else min(dim, 65536)
        encoding = data.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise ApiError(400, f"'encoding_format' must be float or base64, got {encoding!r}",
                           param="encoding_format")
        self.base64 = encoding == "base64"

    def body(self, seed: int) -> bytes:
        data = []
        for index, text in enumerate(self.inputs):
            vector = embedding_vector(seed, text, self.dim)
            embedding: Any = (base64.b64encode(struct.pack(f"<{self.dim}f", *vector)).decode()
                              if self.base64 else vector)
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return _dumps({"object": "list", "data": data, "model": self.model,
                       "usage": {"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens}})


def models_body(config: SimulatorConfig) -> bytes:
    """``GET /v1/models``."""
    return _dumps({"object": "list", "data": [{
        "id": config.served_model_name, "object": "model", "created": 0, "owned_by": "inferload",
        "max_model_len": config.max_model_len,
    }]})
