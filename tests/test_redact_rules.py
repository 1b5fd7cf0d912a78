"""What counts as secret, and how free text, payloads and the launch command are redacted
(``inferload.redact``, the one module every artifact, route, log and console line goes through)."""

from __future__ import annotations

import pytest

from inferload.config import ProfileConfig
from inferload.redact import REDACTED, build_cli_command, is_secret_name, redact_payload, redact_text


@pytest.mark.parametrize(
    "name",
    ["Authorization", "X-Api-Key", "api_token", "apiToken", "client_secret", "Cookie", "Set-Cookie",
     "password", "DB_PASSWORD", "--hf-token", "x-auth-token", "credentials", "Proxy-Authorization",
     "xapikey"],
)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["max_tokens", "min_tokens", "--tokenizer", "session_id", "X-Team", "Content-Type", "top_k", "monkey",
     "ignore_eos", "stream_options"],
)
def test_ordinary_request_fields_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_payload_keeps_its_shape_with_secret_values_replaced_at_any_depth() -> None:
    body = {"model": "m", "max_tokens": 5, "api_token": "S3CR3T-1",
            "auth": {"client_secret": "S3CR3T-2", "scopes": ["a", "b"]},
            "messages": [{"role": "user", "content": "hi", "password": "S3CR3T-3"}]}
    assert redact_payload(body) == {
        "model": "m", "max_tokens": 5, "api_token": REDACTED,
        "auth": {"client_secret": REDACTED, "scopes": [REDACTED, REDACTED]},
        "messages": [{"role": "user", "content": "hi", "password": REDACTED}],
    }
    assert body["api_token"] == "S3CR3T-1"  # the body that is sent is left as it is
    plain = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert redact_payload(plain) is plain


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('{"authorization": "Basic dXNlcjpwYXNz", "max_tokens": 5}', '"max_tokens": 5'),
        ("Authorization: Bearer sk-abcdef123 and more", "and more"),
        ('{"content": "{\\"Cookie\\": \\"sid=abcdef\\"}"}', '{"content"'),
        ("upstream said api_key=abcdef123; retry", "retry"),
        ("see http://user:pw@host:8000/v1", "host:8000/v1"),
    ],
)
def test_echoed_credentials_in_free_text_are_redacted(text: str, kept: str) -> None:
    cleaned = redact_text(text)
    assert REDACTED in cleaned and kept in cleaned
    for secret in ("dXNlcjpwYXNz", "sk-abcdef123", "sid=abcdef", "abcdef123", "user:pw"):
        assert secret not in cleaned


def test_cli_command_is_redacted_from_the_parsed_settings_in_every_spelling() -> None:
    argv = ["profile", "--api-key=sk-EQ-123", "-HAuthorization: Bearer ATTACHED-123",
            "--extra-inputs", '{"nested": {"api_token": "JSON-123"}}', "-uhttp://u:URLPASS-123@h:1"]
    config = ProfileConfig.load({"extra_inputs": ['{"nested": {"api_token": "JSON-123"}}']})
    command = build_cli_command(argv, secrets=config.secret_values())
    for secret in ("sk-EQ-123", "ATTACHED-123", "JSON-123", "URLPASS-123"):
        assert secret not in command
    assert "Authorization" in command and "nested" in command
