"""``backend = "auto"`` chooses what the backend plugins declare: no backend name is written in the app."""

from __future__ import annotations


def test_auto_backend_choice_is_what_the_backends_declare(datagen_plugins) -> None:
    from datagen._app.backend_choice import resolve_backend
    from datagen._datamodel.config import load_config

    config = load_config(data={"backend": {"name": "auto"}}, environ={})
    assert resolve_backend(config, datagen_plugins, {})[0] == "local"
    assert resolve_backend(config, datagen_plugins, {"ANTHROPIC_API_KEY": "k"})[0] == "anthropic"
    assert (
        resolve_backend(config, datagen_plugins, {"ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"})[0]
        == "openai"
    )

    from datagen._kernel.hookspecs import hookimpl
    from datagen.testing import scripted_backend

    mine = scripted_backend(lambda request: "ok", name="mine")
    mine.env_key, mine.auto_choice = "MINE_KEY", 1  # a third-party backend that comes first with its key

    class Plugin:
        @hookimpl
        def datagen_register_backends(self, register):  # type: ignore[no-untyped-def]
            register(mine)

    datagen_plugins.register(Plugin(), name="mine")
    assert resolve_backend(config, datagen_plugins, {"MINE_KEY": "k", "OPENAI_API_KEY": "k"}) == (
        "mine",
        "MINE_KEY is set; --backend local for the embedded model",
    )
    assert resolve_backend(config, datagen_plugins, {"OPENAI_API_KEY": "k"})[0] == "openai"
