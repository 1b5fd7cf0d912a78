"""The official openai client against the simulator: chat, completions, embeddings, models and errors."""

from __future__ import annotations

import math
from collections.abc import Iterator

import openai
import pytest

from inferload_plugins.simulator.embedded import EmbeddedSimulator
from inferload_plugins.simulator.text import count_tokens
from simulator_wire import StartSimulator

pytest_plugins = ["simulator_fixtures"]

PROMPT = "Tell me, in a few words, why the sky is blue."


@pytest.fixture(scope="module")
def client(fast_simulator: EmbeddedSimulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fast_simulator.url + "/v1", api_key="sk-test", max_retries=0,
                       timeout=10) as client:
        yield client


def test_chat_completion_returns_usage_equal_to_the_tokens_sent(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": PROMPT}], max_tokens=12,
        extra_body={"ignore_eos": True},
    )
    content = response.choices[0].message.content
    assert response.model == "my-model"
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 12 == count_tokens(content)
    assert response.usage.prompt_tokens == count_tokens(PROMPT)
    assert response.usage.total_tokens == response.usage.prompt_tokens + 12


def test_chat_stream_with_include_usage_ends_with_a_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="my-model", messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        max_completion_tokens=20, stream=True, stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert usage_chunk.usage.completion_tokens == 20 == count_tokens(text)
    assert usage_chunk.usage.prompt_tokens == count_tokens("Be brief.") + count_tokens(PROMPT)


def test_completions_streaming_and_not_agree_on_text_and_usage(client: openai.OpenAI) -> None:
    whole = client.completions.create(model="m", prompt=PROMPT, max_tokens=9)
    chunks = list(client.completions.create(model="m", prompt=PROMPT, max_tokens=9, stream=True,
                                            stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert whole.choices[0].text == streamed
    assert whole.usage is not None and chunks[-1].usage is not None
    assert whole.usage.completion_tokens == chunks[-1].usage.completion_tokens == count_tokens(streamed)
    assert whole.usage.prompt_tokens == count_tokens(PROMPT)


def test_completions_default_to_sixteen_tokens_like_openai(client: openai.OpenAI) -> None:
    response = client.completions.create(model="m", prompt="a b c", extra_body={"ignore_eos": True})
    assert response.usage is not None and response.usage.completion_tokens == 16


def test_natural_length_is_deterministic_and_depends_on_the_request_seed(client: openai.OpenAI) -> None:
    def ask(seed: int) -> tuple[str, str]:
        response = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": PROMPT}], seed=seed)
        return response.choices[0].message.content or "", response.choices[0].finish_reason

    first, again, other = ask(1), ask(1), ask(2)
    assert first == again
    assert first != other
    assert first[1] in ("stop", "length")


def test_embeddings_default_base64_and_float_give_the_same_unit_vectors(client: openai.OpenAI) -> None:
    default = client.embeddings.create(model="embedder", input=["first text", "second text"])
    floats = client.embeddings.create(model="embedder", input=["first text", "second text"],
                                      encoding_format="float")
    assert [len(d.embedding) for d in default.data] == [384, 384]
    for packed, plain in zip(default.data, floats.data, strict=True):
        assert math.isclose(math.fsum(v * v for v in plain.embedding), 1.0, rel_tol=1e-9)
        assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)
                   for a, b in zip(packed.embedding, plain.embedding, strict=True))
    assert default.data[0].embedding != default.data[1].embedding
    assert default.usage.prompt_tokens == count_tokens("first text") + count_tokens("second text")


def test_embeddings_honour_dimensions(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="embedder", input="short", dimensions=16)
    assert len(response.data[0].embedding) == 16


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["inferload-sim"]


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        ("http429", openai.RateLimitError, 429),
        ("http500", openai.InternalServerError, 500),
        ("http503", openai.InternalServerError, 503),
    ],
)
def test_error_statuses_map_to_the_client_error_classes(
    client: openai.OpenAI, fault: str, error_class: type[openai.APIStatusError], status: int
) -> None:
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"X-Inferload-Fault": fault})
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "1"


def test_bad_request_maps_to_bad_request_error_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=0)
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "max_tokens"


def test_unknown_route_maps_to_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.get("/no/such/route", cast_to=object)


def test_strict_model_refuses_other_model_names(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(fast=True, strict_model=True, served_model_name="only-me")
    with openai.OpenAI(base_url=simulator.url + "/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            client.completions.create(model="someone-else", prompt="hi")
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "model_not_found"
        assert client.completions.create(model="only-me", prompt="hi").model == "only-me"


def test_reasoning_tokens_stream_before_the_answer_and_count_in_usage(
    start_simulator: StartSimulator,
) -> None:
    simulator = start_simulator(fast=True, reasoning_tokens=5)
    with openai.OpenAI(base_url=simulator.url + "/v1", api_key="x", max_retries=0) as client:
        chunks = list(client.chat.completions.create(
            model="thinker", messages=[{"role": "user", "content": PROMPT}], max_tokens=12, stream=True,
            stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
        whole = client.chat.completions.create(
            model="thinker", messages=[{"role": "user", "content": PROMPT}], max_tokens=12,
            extra_body={"ignore_eos": True})
    kinds = []
    reasoning_text = answer_text = ""
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning = (delta.model_extra or {}).get("reasoning_content")
        if reasoning:
            kinds.append("reasoning")
            reasoning_text += reasoning
        if delta.content:
            kinds.append("answer")
            answer_text += delta.content
    assert kinds == ["reasoning"] * 5 + ["answer"] * 7
    assert count_tokens(reasoning_text) == 5 and count_tokens(answer_text) == 7
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 12
    details = usage.completion_tokens_details
    assert details is not None and details.reasoning_tokens == 5
    message = whole.choices[0].message
    assert message.content == answer_text
    assert (message.model_extra or {}).get("reasoning_content") == reasoning_text
