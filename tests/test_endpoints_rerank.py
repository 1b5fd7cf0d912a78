"""The rerank adapters end to end: `inferload profile --endpoint-type tei_rerank | rerank` (Cohere's
/v1/rerank and, with --endpoint /v1/ranking, NIM's shape) against a real simulator process, the
--rerank-documents dataset mode with exact lengths, the documents metrics, faults typed per request, and
the official `cohere` client against the simulator's route. Checked against the truth log by counts and
causality, never by wall-clock thresholds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cohere
import pytest

from inferload.dataset import resolve_tokenizer
from inferload.registry import load_plugins
from inferload_plugins.simulator.embedded import EmbeddedSimulator
from profile_fixtures import FAST_SIM, load_run, profile, start_simulator

pytest_plugins = ["simulator_fixtures"]

CASES = {
    # endpoint type, extra flags -> (route served, the body's documents field)
    "tei_rerank": ("tei_rerank", (), "/rerank", "texts"),
    "cohere": ("rerank", (), "/v1/rerank", "documents"),
    "nim": ("rerank", ("--endpoint", "/v1/ranking"), "/v1/ranking", "passages"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rerank_request_carries_exact_lengths_and_every_document_is_counted(
    case: str, inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    endpoint_type, extra, route, field = CASES[case]
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--seed", "5",
                          "--fault-rate", "http503=0.2,malformed_chunk=0.2")
    try:
        result = profile(run_cli, sim.url, tmp_path / "art", "-m", "m", "--endpoint-type", endpoint_type,
                         *extra, "--request-count", "20", "--concurrency", "2", "--rerank-documents", "4",
                         "--rerank-query-tokens", "8", "--isl", "12")
        run, summary, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    # every request accounted for, each fault typed on its own request, the run went on
    assert len(records) == len(truth) == 20
    assert {t["route"] for t in truth.values()} == {route}
    expected = {None: None, "http503": "http_error", "malformed_chunk": "malformed_response"}
    assert {t["fault"] for t in truth.values()} == set(expected)
    ok = 0
    for record in records:
        server = truth[record["metadata"]["x_request_id"]]
        assert (record["error"] or {}).get("type") == expected[server["fault"]], record["error"]
        if server["fault"] is not None:
            assert "documents_per_request" not in record["metrics"]
            continue
        ok += 1
        metrics = record["metrics"]
        assert metrics["documents_per_request"]["value"] == 4
        assert metrics["input_sequence_length"]["value"] == 8 + 4 * 12  # the query and every document
        assert "output_sequence_length" not in metrics and "time_to_first_token" not in metrics
        meta = record["metadata"]
        assert meta["request_start_ns"] <= meta["request_ack_ns"] <= meta["request_end_ns"]
        assert metrics["request_latency"]["value"] == metrics["request_latency_last_byte"]["value"] > 0
        if endpoint_type == "rerank" and case == "cohere":  # usage read: every (query, document) pair
            assert metrics["usage_prompt_tokens"]["value"] == server["prompt_tokens"]
    bodies = [entry["payloads"][0] for entry in json.loads((run / "inputs.json").read_text())["data"]]
    tokenizer = resolve_tokenizer(load_plugins(), None)
    for body in bodies:
        documents = body[field]
        assert len(documents) == 4
        texts = [d["text"] if isinstance(d, dict) else d for d in documents]
        assert [tokenizer.count(text) for text in texts] == [12] * 4
        query = body["query"]["text"] if case == "nim" else body["query"]
        assert tokenizer.count(query) == 8
        if case == "cohere":
            assert body["top_n"] == 4  # every document scored, so each response counts them all
    duration = summary["benchmark_duration"]["avg"]
    assert summary["documents_per_request"]["avg"] == 4
    assert summary["document_throughput"]["avg"] == pytest.approx(4 * ok / duration, rel=1e-6)
    assert summary["document_throughput"]["unit"] == "documents/sec"


def test_rerank_needs_no_flag_and_other_endpoint_types_refuse_it(run_cli: Any, tmp_path: Path) -> None:
    default = profile(run_cli, None, tmp_path / "d", "--endpoint-type", "tei_rerank", "--request-count", "3")
    assert default.returncode == 0, default.stderr
    _, _summary, records = load_run(tmp_path / "d")
    assert [r["metrics"]["documents_per_request"]["value"] for r in records] == [10, 10, 10]
    chat = profile(run_cli, None, tmp_path / "c", "--request-count", "3", "--osl", "2")
    assert chat.returncode == 0, chat.stderr
    _, chat_summary, _ = load_run(tmp_path / "c")
    assert "documents_per_request" not in chat_summary and "document_throughput" not in chat_summary
    refused = profile(run_cli, None, tmp_path / "r", "--rerank-documents", "3", "--request-count", "3")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "inferload: error: --rerank-documents applies to endpoint types that rank documents (rerank, "
        "tei_rerank), not --endpoint-type chat"
    ]


def test_a_rerank_file_gives_each_request_its_own_documents(run_cli: Any, tmp_path: Path) -> None:
    lines = [{"query": "which river is longest", "documents": ["the nile", "the amazon is long"]},
             {"query": "blue sky", "documents": ["light scatters", "air molecules", "short waves"]}]
    path = tmp_path / "rerank.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = profile(run_cli, None, tmp_path / "art", "--endpoint-type", "rerank", "--input-file", str(path),
                     "--request-count", "2")
    assert result.returncode == 0, result.stderr
    _, _, records = load_run(tmp_path / "art")
    tokenizer = resolve_tokenizer(load_plugins(), None)
    by_id = {r["metadata"]["conversation_id"]: r["metrics"] for r in records}
    for lineno, line in enumerate(lines, start=1):
        metrics = by_id[f"rerank.jsonl:{lineno}"]
        assert metrics["documents_per_request"]["value"] == len(line["documents"])
        assert metrics["input_sequence_length"]["value"] == tokenizer.count(line["query"]) + sum(
            tokenizer.count(d) for d in line["documents"])
    both = profile(run_cli, None, tmp_path / "b", "--endpoint-type", "rerank", "--input-file", str(path),
                   "--rerank-documents", "3", "--request-count", "2")
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        "inferload: error: --rerank-documents sets the synthetic dataset's document count; the lines of "
        "--input-file give their own documents: drop one of them"]
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"text": "no documents here"}\n')
    refused = profile(run_cli, None, tmp_path / "p", "--endpoint-type", "tei_rerank", "--input-file",
                      str(plain), "--request-count", "1")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "ranks documents, but the file dataset gave 'plain.jsonl:1' none" in refused.stderr


def test_a_reranker_answering_another_shape_is_a_typed_error_naming_the_endpoint_type(
    run_cli: Any, tmp_path: Path
) -> None:
    # the Cohere body sent to TEI's /rerank route: TEI refuses it (no `texts`), a 422 in TEI's shape;
    # TEI's answer read by the Cohere adapter: a bare array, which is tei_rerank's shape
    refused = profile(run_cli, None, tmp_path / "a", "--endpoint-type", "rerank", "--endpoint", "/rerank",
                      "--request-count", "2")
    _, _, records = load_run(tmp_path / "a")
    assert [r["error"]["code"] for r in records] == [422, 422]
    assert "`texts` must be a non-empty list of strings" in records[0]["error"]["message"]
    assert refused.returncode == 1
    other = profile(run_cli, None, tmp_path / "b", "--endpoint-type", "rerank", "--endpoint", "/rerank",
                    "--extra-inputs", '{"texts": ["a b", "c d"]}', "--request-count", "2")
    _, _, records = load_run(tmp_path / "b")
    assert all(r["error"]["type"] == "malformed_response" for r in records)
    assert "looks like --endpoint-type tei_rerank" in records[0]["error"]["message"]
    assert "run with --endpoint-type tei_rerank" in other.stderr + other.stdout


def test_the_official_cohere_client_ranks_against_the_simulator(fast_simulator: EmbeddedSimulator) -> None:
    documents = ["the sky is blue because air scatters short waves", "grass is green", "rivers run"]
    for client in (cohere.Client(api_key="k", base_url=fast_simulator.url, timeout=10),
                   cohere.ClientV2(api_key="k", base_url=fast_simulator.url, timeout=10)):
        everything = client.rerank(model="m", query="why is the sky blue", documents=documents)
        top = client.rerank(model="m", query="why is the sky blue", documents=documents, top_n=2)
        assert sorted(r.index for r in everything.results) == [0, 1, 2]
        scores = [r.relevance_score for r in everything.results]
        assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
        assert [r.index for r in top.results] == [r.index for r in everything.results][:2]
        with pytest.raises(cohere.core.api_error.ApiError) as info:
            client.rerank(model="m", query="", documents=documents)
        assert info.value.status_code == 400


RERANK_PLUGINS = {"tei_rerank": ("endpoint-tei-rerank", ["POST /rerank"]),
                  "rerank": ("endpoint-rerank", ["POST /v1/rerank", "POST /v2/rerank", "POST /v1/ranking"])}


def test_each_rerank_adapter_is_its_own_contrib_plugin_and_help_lists_it(run_cli: Any) -> None:
    rows = {row["name"]: row for row in json.loads(run_cli("plugins", "--json").stdout)}
    for endpoint_type, (plugin, routes) in RERANK_PLUGINS.items():
        row = rows[plugin]
        assert row["status"] == "enabled" and row["module"].startswith("inferload_contrib.")
        assert set(row["category"].split(",")) == {"endpoint", "simulator_route"}
        assert row["provides"][0].startswith(f"{endpoint_type} (") and row["provides"][1:] == routes
    metrics = rows["metrics-rerank"]
    assert metrics["module"] == "inferload_contrib.rerank_metrics"
    assert metrics["provides"] == ["documents_per_request", "document_throughput"]


@pytest.mark.parametrize("endpoint_type", sorted(RERANK_PLUGINS))
def test_disabling_one_rerank_adapter_removes_only_its_endpoint_type(
    endpoint_type: str, run_cli: Any, tmp_path: Path
) -> None:
    env = {"INFERLOAD_DISABLE_PLUGINS": RERANK_PLUGINS[endpoint_type][0]}
    refused = profile(run_cli, None, tmp_path / "off", "--endpoint-type", endpoint_type, "--request-count",
                      "2", env=env)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert f"unknown endpoint {endpoint_type!r}" in refused.stderr
    other = next(t for t in RERANK_PLUGINS if t != endpoint_type)
    kept = profile(run_cli, None, tmp_path / "on", "--endpoint-type", other, "--request-count", "2",
                   "--rerank-documents", "2", env=env)
    assert kept.returncode == 0, kept.stderr
    _, _, records = load_run(tmp_path / "on")
    assert [r["metrics"]["documents_per_request"]["value"] for r in records] == [2, 2]
    helped = run_cli("profile", "--help", env=env).stdout
    listed = helped.rsplit("--endpoint-type NAME", 1)[1].split("--endpoint PATH", 1)[0]
    assert other in listed and endpoint_type not in listed.replace(other, "")
