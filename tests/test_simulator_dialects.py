"""The official clients against the simulator's plugin dialects: ``anthropic`` on /v1/messages,
``openai`` Responses on /v1/responses, ``ollama`` on /api/chat and /api/tags, Hugging Face's
``InferenceClient`` on TGI's routes (routes the contrib endpoint plugins ship through
``register_simulator_routes``), streamed and whole, with reasoning, usage and errors."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import ollama
import openai
import pytest
from huggingface_hub import InferenceClient

from inferload_plugins.simulator.embedded import EmbeddedSimulator
from inferload_plugins.simulator.text import count_tokens
from simulator_wire import StartSimulator

pytest_plugins = ["simulator_fixtures"]

PROMPT = "Tell me, in a few words, why the sky is blue."
MESSAGES = [{"role": "user", "content": PROMPT}]


@pytest.fixture(scope="module")
def claude(fast_simulator: EmbeddedSimulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fast_simulator.url, api_key="sk-ant-test", max_retries=0,
                             timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def oai(fast_simulator: EmbeddedSimulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fast_simulator.url + "/v1", api_key="sk-test", max_retries=0,
                       timeout=10) as client:
        yield client


def test_anthropic_message_reports_usage_equal_to_the_tokens_sent(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="sim", max_tokens=9, messages=MESSAGES)
    assert message.type == "message" and message.stop_reason == "max_tokens"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert count_tokens(text) == message.usage.output_tokens == 9
    assert message.usage.input_tokens == count_tokens(PROMPT)


def test_anthropic_stream_events_in_order_and_final_message_agree(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="sim", max_tokens=7, messages=MESSAGES) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.index("content_block_start") < kinds.index("content_block_delta")
    last_delta = max(i for i, kind in enumerate(kinds) if kind == "content_block_delta")
    assert kinds.index("content_block_stop") > last_delta
    assert final.usage.output_tokens == 7
    assert count_tokens(final.content[0].text) == 7


def test_anthropic_thinking_block_precedes_the_text_block(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(fast=True, reasoning_tokens=4)
    with anthropic.Anthropic(base_url=simulator.url, api_key="k", max_retries=0) as client:
        with client.messages.stream(model="sim", max_tokens=10, messages=MESSAGES) as stream:
            deltas = [event.delta.type for event in stream if event.type == "content_block_delta"]
            final = stream.get_final_message()
        whole = client.messages.create(model="sim", max_tokens=10, messages=MESSAGES)
    assert deltas == ["thinking_delta"] * 4 + ["text_delta"] * 6
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert count_tokens(final.content[0].thinking) == 4 and count_tokens(final.content[1].text) == 6
    assert [block.type for block in whole.content] == ["thinking", "text"]


def test_anthropic_errors_map_to_the_client_error_classes(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        claude.post("/v1/messages", body={"model": "sim", "messages": MESSAGES}, cast_to=object)
    with pytest.raises(anthropic.InternalServerError) as info:
        claude.messages.create(model="sim", max_tokens=5, messages=MESSAGES,
                               extra_headers={"X-Inferload-Fault": "http500"})
    assert info.value.body["type"] == "error"  # Anthropic's error shape, not OpenAI's
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="sim", max_tokens=5, messages=MESSAGES,
                               extra_headers={"X-Inferload-Fault": "http429:0"})


def test_responses_create_reports_usage_and_output_text(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="sim", input=PROMPT, max_output_tokens=6)
    assert response.status == "incomplete"  # cut at max_output_tokens, as OpenAI reports it
    assert count_tokens(response.output_text) == response.usage.output_tokens == 6
    assert response.usage.input_tokens == count_tokens(PROMPT)


def test_responses_stream_ends_with_completed_usage(start_simulator: StartSimulator) -> None:
    simulator = start_simulator(fast=True, reasoning_tokens=3)
    with openai.OpenAI(base_url=simulator.url + "/v1", api_key="x", max_retries=0) as client:
        events = list(client.responses.create(model="sim", input=MESSAGES, max_output_tokens=8,
                                              stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    deltas = [k for k in kinds if k.endswith(".delta")]
    assert deltas == ["response.reasoning_text.delta"] * 3 + ["response.output_text.delta"] * 5
    final = events[-1]
    assert final.type == "response.incomplete"
    assert final.response.usage.output_tokens == 8
    assert final.response.usage.output_tokens_details.reasoning_tokens == 3
    answer = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert count_tokens(answer) == 5


def test_responses_refused_request_is_a_bad_request_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="max_output_tokens"):
        oai.responses.create(model="sim", input=PROMPT, max_output_tokens=0)


@pytest.fixture(scope="module")
def ollama_client(fast_simulator: EmbeddedSimulator) -> ollama.Client:
    return ollama.Client(host=fast_simulator.url, timeout=10)


def test_ollama_client_lists_the_model_and_chats_whole_and_streamed(ollama_client: ollama.Client) -> None:
    assert [m.model for m in ollama_client.list().models] == ["inferload-sim"]
    whole = ollama_client.chat(model="m", messages=MESSAGES, options={"num_predict": 6})
    assert whole.done and whole.eval_count == 6 and count_tokens(whole.message.content) == 6
    assert whole.prompt_eval_count == count_tokens(PROMPT)
    parts = list(ollama_client.chat(model="m", messages=MESSAGES, options={"num_predict": 5}, stream=True))
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].eval_count == 5 and count_tokens("".join(p.message.content for p in parts)) == 5
    assert parts[-1].total_duration is not None and parts[-1].total_duration > 0


def test_ollama_client_reads_the_error_in_ollamas_shape(fast_simulator: EmbeddedSimulator) -> None:
    client = ollama.Client(host=fast_simulator.url, timeout=10, headers={"X-Inferload-Fault": "http503"})
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="m", messages=MESSAGES)
    assert info.value.status_code == 503
    assert info.value.error == "simulated overload: service unavailable (fault injection)"


def test_huggingface_inference_client_generates_from_the_tgi_routes(
    fast_simulator: EmbeddedSimulator,
) -> None:
    client = InferenceClient(base_url=fast_simulator.url, timeout=10)
    whole = client.text_generation(PROMPT, max_new_tokens=6, details=True)
    assert whole.details.generated_tokens == 6 and count_tokens(whole.generated_text) == 6
    events = list(client.text_generation(PROMPT, max_new_tokens=4, stream=True, details=True))
    assert [e.generated_text is not None for e in events] == [False] * (len(events) - 1) + [True]
    assert events[-1].details.generated_tokens == 4
    assert count_tokens("".join(e.token.text for e in events if not e.token.special)) == 4
