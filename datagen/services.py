"""Functions a lower layer calls and a higher layer provides, so that no module imports a layer above its
own: ``Results.apply`` (the data model) runs stages through ``apply_stages``, which the application
layer provides when ``datagen`` is imported.

Optional services, which nothing provides by default:

- ``shared_rate_bucket(key, kind, rate_per_min)``: the bucket an engine paces a configured (or
  announced: the server's rate-limit headers) ``requests_per_minute`` (``kind = "requests"``) or
  ``tokens_per_minute`` (``"tokens"``) with, shared by every process of a cluster (an executor's
  workers); ``key`` names the backend, endpoint and model. It has a
  :class:`~datagen._engine.core.TokenBucket`'s ``take``, ``give_back``, ``set_rate``, ``charge``
  (requests sent before the bucket was made, and what each spent, paced as if it had) and
  ``release`` (the engine is closing: hand back what it holds). ``kind = "learned"``: a share of
  the pace the cluster learned from the 429s of a limit the server enforces without announcing it.
- ``shared_pace(key)``: a :class:`~datagen._engine.pace.PaceReporter`, through which an engine asks
  for that pace before its first request, and reports its sends when it meets such a limit (the
  cluster learns from every worker's: :class:`~datagen._engine.pace.ClusterPace`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PROVIDED: dict[str, Callable[..., Any]] = {}


def provide(name: str, function: Callable[..., Any]) -> None:
    """Make ``function`` the provider of the service ``name``."""
    _PROVIDED[name] = function


def provided(name: str) -> Callable[..., Any] | None:
    """The function providing ``name``, or None when nothing does (an optional service)."""
    return _PROVIDED.get(name)


def service(name: str) -> Callable[..., Any]:
    """The function providing ``name``; a RuntimeError when nothing provides it."""
    try:
        return _PROVIDED[name]
    except KeyError:
        raise RuntimeError(f"no provider for the service {name!r}") from None
