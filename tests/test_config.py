"""Config: layering, strict types, errors that name their paths, plugin sections, masking, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from datagen._datamodel.config import (
    DatagenConfig,
    converter,
    dump_toml,
    env_overrides,
    load_config,
    read_config_file,
    secret_field,
    structure,
)
from datagen._kernel.manager import PluginManager, load_plugins
from datagen._kernel.options import effective_config, validate_plugin_options
from datagen.errors import ConfigError


def problems(**data):
    with pytest.raises(ConfigError) as info:
        load_config(data=data, environ={})
    return info.value.problems


def test_defaults_need_no_file() -> None:
    cfg = load_config(environ={})
    assert cfg.method.name == "" and cfg.backend.name == "auto" and cfg.cache.enabled
    from datagen._kernel.capabilities import default_member
    from datagen._kernel.manager import load_plugins

    pm = load_plugins()  # no method named: the one that declares itself the default; the same for agents
    assert default_member(pm, "method", cfg.method.name) == "respond"
    assert default_member(pm, "agent", cfg.tune.agent) == "random"
    assert default_member(pm, "method", "evol_instruct") == "evol_instruct"


def test_wrong_type_names_the_path_and_value() -> None:
    assert problems(backend={"openai": {}}, engine={"max_retries": "three"}) == [
        "$.engine.max_retries: expected int, got 'three'"
    ]


def test_all_errors_are_reported_at_once() -> None:
    found = problems(engine={"max_retries": "x", "timeout_s": "slow"}, cache={"enabled": "maybe"}, bogus=1)
    assert found == [
        "$.engine.max_retries: expected int, got 'x'",
        "$.engine.timeout_s: expected float, got 'slow'",
        "$.cache.enabled: expected bool, got 'maybe'",
        "$.bogus: unknown key",
    ]


def test_numbers_out_of_range_name_the_key() -> None:
    found = problems(
        engine={"max_concurrency": 0, "timeout_s": -1.0},
        sampling={"top_p": 1.5, "max_tokens": 0},
        generate={"count": -3},
    )
    assert sorted(found) == [  # every range error at once, not the first of each section
        "$.engine.max_concurrency: must be greater than 0, got 0",
        "$.engine.timeout_s: must be greater than 0, got -1.0",
        "$.generate.count: must be greater than 0, got -3",
        "$.sampling.max_tokens: must be greater than 0, got 0",
        "$.sampling.top_p: must be at most 1, got 1.5",
    ]
    assert problems(engine={"timeout_s": -1.0}) == ["$.engine.timeout_s: must be greater than 0, got -1.0"]
    assert problems(sampling={"max_tokens": 0}) == ["$.sampling.max_tokens: must be greater than 0, got 0"]
    engine = {"max_concurrency": None, "max_retries": 0, "gc_threshold": None}
    cfg = load_config(data={"engine": engine}, environ={})
    assert cfg.engine.max_retries == 0
    assert problems(engine={"token_charge": "maybe"}) == [
        "$.engine.token_charge: must be one of auto, reserved, used; got 'maybe'"
    ]


def test_strict_scalars() -> None:
    assert problems(generate={"count": 2.5}) == ["$.generate.count: expected int, got 2.5"]
    assert problems(generate={"count": True}) == ["$.generate.count: expected int, got True"]
    assert problems(backend={"model": 5}) == ["$.backend.model: expected str, got 5"]
    assert problems(plugins={"disable": [1]}) == ["$.plugins.disable: expected str, got 1"]


def test_plugin_tables_must_be_tables() -> None:
    assert problems(backend={"openai": 3}) == [
        "$.backend.openai: unknown key (a plugin's options must be a table, got 3)"
    ]


def test_plugin_options_are_checked_against_the_plugin_config() -> None:
    pm = load_plugins(strict=True, disable=())
    cfg = load_config(data={"backend": {"echo": {"latency_s": "fast", "colour": 1}, "nope": {}}}, environ={})
    with pytest.raises(ConfigError) as info:
        validate_plugin_options(cfg, pm)
    assert info.value.problems == [
        "$.backend.echo.latency_s: expected float, got 'fast'",
        "$.backend.echo.colour: unknown key",
        "$.backend.nope: no backend plugin named 'nope' "
        "(registered: anthropic, echo, litellm, local, openai)",
    ]


def test_toml_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[backend]\nname = "echo"\n[backend.echo]\nprefix = "> "\n')
    (tmp_path / "c.yaml").write_text("backend:\n  name: echo\n  echo:\n    prefix: '> '\n")
    for name in ("c.toml", "c.yaml"):
        cfg = load_config(tmp_path / name, environ={})
        assert cfg.backend.name == "echo" and cfg.backend.options == {"echo": {"prefix": "> "}}


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[engine\n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML: .*line 1"):
        read_config_file(bad_toml)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("engine:\n  a: 1\n b: 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3: invalid YAML"):
        read_config_file(bad_yaml)
    with pytest.raises(ConfigError, match="config file not found"):
        read_config_file(tmp_path / "missing.toml")
    typed = tmp_path / "typed.toml"
    typed.write_text("[engine]\nmax_retries = 'three'\n")
    with pytest.raises(ConfigError, match=r"in .*typed.toml:\n  \$.engine.max_retries: expected int"):
        load_config(typed, environ={})


def test_layering_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[engine]\nmax_retries = 1\ntimeout_s = 5.0\nmax_concurrency = 3\n")
    env = {
        "DATAGEN_ENGINE__MAX_RETRIES": "2",
        "DATAGEN_ENGINE__TIMEOUT_S": "7.5",
        "DATAGEN_STRICT_PLUGINS": "1",
    }
    cfg = load_config(path, environ=env, overrides={"engine": {"max_retries": 9}})
    assert (cfg.engine.max_retries, cfg.engine.timeout_s, cfg.engine.max_concurrency) == (9, 7.5, 3)


def test_environment_reaches_plugin_tables_and_lists() -> None:
    env = {
        "DATAGEN_BACKEND__ECHO__PREFIX": "hi",
        "DATAGEN_PLUGINS__DISABLE": "a, b",
        "DATAGEN_CACHE__ENABLED": "no",
    }
    assert env_overrides(env)["backend"] == {"echo": {"prefix": "hi"}}
    cfg = load_config(environ=env)
    assert cfg.backend.options["echo"] == {"prefix": "hi"}
    assert cfg.plugins.disable == ["a", "b"] and cfg.cache.enabled is False


def test_secrets_are_masked_in_the_effective_config() -> None:
    @attrs.define
    class KeyConfig:
        api_key: str | None = secret_field()
        base_url: str = "http://x"

    class KeyBackend:
        name = "keyed"
        Config = KeyConfig
        is_chat = True
        model = "m"

        def __init__(self, config: KeyConfig) -> None: ...
        def validate(self) -> None: ...
        async def complete(self, request): ...
        async def aclose(self) -> None: ...

    class Plugin:
        from datagen import hookimpl

        @hookimpl
        def datagen_register_backends(self, register) -> None:
            """Register the keyed backend."""
            register(KeyBackend)

    pm = PluginManager(strict=True)
    pm.register(Plugin(), name="keyed")
    cfg = load_config(data={"backend": {"keyed": {"api_key": "sk-live-0123456789abcdef"}}}, environ={})
    shown = effective_config(cfg, pm)
    assert shown["backend"]["keyed"] == {"api_key": "****", "base_url": "http://x"}
    assert "sk-live" not in json.dumps(shown) and "sk-live" not in repr(
        cfg.plugin_config("backend", "keyed", KeyConfig)
    )


@attrs.define
class Inner:
    n: int = 0


@attrs.define
class Outer:
    items: list[Inner] = attrs.field(factory=list)


def test_structure_reports_nested_list_paths() -> None:
    with pytest.raises(ConfigError) as info:
        structure({"items": [{"n": 1}, {"n": "x"}]}, Outer)
    assert info.value.problems == ["$.items[1].n: expected int, got 'x'"]


small_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 10**9),
    temperature=st.floats(0, 2, allow_nan=False),
    name=small_text,
    stops=st.lists(small_text, max_size=3),
    disable=st.lists(small_text, max_size=3),
    strict=st.booleans(),
    model=st.none() | small_text,
)
def test_config_round_trips_through_toml(count, temperature, name, stops, disable, strict, model) -> None:
    import tomllib

    cfg = load_config(
        data={
            "generate": {"count": count},
            "sampling": {"temperature": temperature, "stop": stops},
            "method": {"name": name or "respond"},
            "backend": {"model": model, "echo": {"prefix": name}},
            "plugins": {"disable": disable, "strict": strict},
        },
        environ={},
    )
    text = dump_toml(converter.unstructure(cfg))
    assert structure(tomllib.loads(text), DatagenConfig) == cfg


def test_plugin_configs_range_check_with_the_kernel_validators() -> None:
    from datagen._datamodel.config import POSITIVE, bounded

    @attrs.define
    class ShortConfig:
        max_words: int = attrs.field(default=20, validator=POSITIVE)
        ratio: float = attrs.field(default=0.5, validator=bounded(0, high=1))

    with pytest.raises(ConfigError) as info:
        structure({"ratio": 1.5}, ShortConfig, path="$.filter.short_only")
    assert info.value.problems == ["$.filter.short_only.ratio: must be at most 1, got 1.5"]
    assert structure({"max_words": 3}, ShortConfig).max_words == 3
