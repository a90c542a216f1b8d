"""Functions a lower layer calls and a higher layer provides, so that no module imports a layer above its
own: ``Results.apply`` (the data model) runs stages through ``apply_stages``, which the application
layer provides when ``datagen`` is imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PROVIDED: dict[str, Callable[..., Any]] = {}


def provide(name: str, function: Callable[..., Any]) -> None:
    """Make ``function`` the provider of the service ``name``."""
    _PROVIDED[name] = function


def service(name: str) -> Callable[..., Any]:
    """The function providing ``name``; a RuntimeError when nothing provides it."""
    try:
        return _PROVIDED[name]
    except KeyError:
        raise RuntimeError(f"no provider for the service {name!r}") from None
