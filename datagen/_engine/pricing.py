"""Token prices: the tables the backend plugins declare (``prices``), extended by ``[prices]`` in the
config."""

from __future__ import annotations

from collections.abc import Mapping

from datagen._datamodel.config import Price
from datagen._datamodel.records import Usage


class PriceTable:
    """Looks up a model's price by exact name or longest prefix; unknown models cost ``None``."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices = dict(prices or {})
        self._by_length = sorted(self._prices, key=len, reverse=True)

    def price(self, model: str | None) -> Price | None:
        """The price for ``model``, or None when it is not in the table."""
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        for name in self._by_length:
            if model.startswith(name):
                return self._prices[name]
        return None

    def cost(self, model: str | None, usage: Usage) -> float | None:
        """What ``usage`` of ``model`` cost in USD, or None when the price is unknown."""
        price = self.price(model)
        if price is None:
            return None
        return (
            usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok
        ) / 1e6
