"""Help text names what is installed, from the plugin registry, never from a list written into the help:
`inferload profile --help` lists every registered endpoint type (contrib included), transport, arrival
pattern, executor, tokenizer, dataset, cache reset and view, the catalogue's default marked; `inferload
simulate --help` lists the plugin routes; disabling a plugin takes its name out (real CLI)."""

from __future__ import annotations

import re
from typing import Any

from inferload.registry import LoadRules, load_plugins

FLAGS = {"--endpoint-type": "endpoint", "--transport": "transport", "--arrival-pattern": "arrival_pattern",
         "--executor": "executor", "--tokenizer": "tokenizer", "--dataset": "dataset",
         "--reset-kv-cache": "cache_reset", "--ui": "view"}


def _help_of(text: str, flag: str) -> str:
    """The help paragraph of ``flag`` in argparse's output, joined to one line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s+{re.escape(flag)}\b", line))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if re.match(r"\s+-", line) or not line.startswith(" " * 10):
            break
        block.append(line)
    return " ".join(part.strip() for part in block)


def test_profile_help_lists_every_registered_plugin_of_each_choice(run_cli: Any) -> None:
    registry = load_plugins(LoadRules())
    helped = run_cli("profile", "--help")
    assert helped.returncode == 0
    for flag, category in FLAGS.items():
        text = _help_of(helped.stdout, flag)
        names = list(registry.all(category))
        assert names, category
        for name in names:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (flag, name, text)
    endpoint_help = _help_of(helped.stdout, "--endpoint-type")
    for contrib in ("responses", "anthropic_messages", "tgi_generate", "ollama_chat", "tei_embed",
                    "tei_rerank", "rerank"):
        assert contrib in endpoint_help
    assert "chat (default)" in endpoint_help
    assert "protocol (default)" in _help_of(helped.stdout, "--transport")
    assert "rich (default), simple or none" in _help_of(helped.stdout, "--ui")
    assert "rerank, tei_rerank" in _help_of(helped.stdout, "--rerank-documents")


def test_disabled_plugins_leave_the_help(run_cli: Any) -> None:
    env = {"INFERLOAD_DISABLE_PLUGINS": "endpoint-ollama-chat,transport-httpx,arrival-gamma"}
    helped = run_cli("profile", "--help", env=env).stdout
    assert "ollama_chat" not in _help_of(helped, "--endpoint-type")
    assert "httpx" not in _help_of(helped, "--transport")
    assert "gamma" not in _help_of(helped, "--arrival-pattern")
    assert "anthropic_messages" in _help_of(helped, "--endpoint-type")


def test_simulate_help_lists_the_plugin_routes(run_cli: Any) -> None:
    helped = " ".join(run_cli("simulate", "--help").stdout.split())
    for route in ("POST /v1/messages (anthropic_messages)", "POST /rerank (tei_rerank)",
                  "POST /v1/ranking (rerank.nim)", "POST /api/chat (ollama_chat)"):
        assert route in helped
    off = " ".join(run_cli("simulate", "--help", env={"INFERLOAD_DISABLE_PLUGINS": "endpoint-tei-rerank"})
                   .stdout.split())
    assert "(tei_rerank)" not in off and "(anthropic_messages)" in off
