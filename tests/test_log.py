"""Logging: JSON or console output, levels, and secrets redacted everywhere."""

from __future__ import annotations

import io
import json

from datagen.log import configure_logging, get_logger, redact_text, register_secret


def logged(**kwargs) -> dict:
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    get_logger("test").info("event", **kwargs)
    return json.loads(stream.getvalue())


def test_json_lines_with_level_and_logger() -> None:
    line = logged(n=3)
    assert (
        line["event"] == "event" and line["level"] == "info" and line["logger"] == "test" and line["n"] == 3
    )


def test_secret_named_keys_are_masked() -> None:
    line = logged(api_key="abc123456789", headers={"Authorization": "whatever", "accept": "json"})
    assert line["api_key"] == "****"
    assert line["headers"] == {"Authorization": "****", "accept": "json"}


def test_secret_shaped_values_are_masked_anywhere() -> None:
    line = logged(
        error="401 for key sk-proj-ABCDEFGH12345678 with Bearer abcdefgh12345678",
        items=["sk-ant-api03-xyzxyzxyz"],
    )
    assert "sk-proj" not in json.dumps(line) and "abcdefgh12345678" not in json.dumps(line)
    assert line["error"] == "401 for key **** with ****" and line["items"] == ["****"]


def test_registered_secrets_are_masked_whatever_their_shape() -> None:
    register_secret("hunter2-custom-token")
    assert redact_text("the key hunter2-custom-token leaked") == "the key **** leaked"
    assert "hunter2" not in json.dumps(logged(note="x hunter2-custom-token y"))


def test_exceptions_are_redacted() -> None:
    line = logged(error=RuntimeError("bad key sk-abcdefghijklmnop"))
    assert line["error"] == "RuntimeError: bad key ****"


def test_level_filters_and_console_format() -> None:
    stream = io.StringIO()
    configure_logging("warning", stream=stream)
    log = get_logger("t")
    log.info("hidden")
    log.warning("shown", api_key="secret-value-1234")
    text = stream.getvalue()
    assert "hidden" not in text and "shown" in text and "secret-value" not in text
