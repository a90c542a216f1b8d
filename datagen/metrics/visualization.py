"""The seed's ``datagen.metrics.visualization``: plots of computed metrics (the code is
:mod:`datagen._app.visualization`)."""

from __future__ import annotations

from datagen._app.visualization import (
    create_diversity_plot,
    create_length_distribution_plot,
    create_perplexity_plot,
    create_readability_plot,
    create_summary_dashboard,
    create_topic_distribution_plot,
    render_all,
)

__all__ = [
    "create_diversity_plot",
    "create_length_distribution_plot",
    "create_perplexity_plot",
    "create_readability_plot",
    "create_summary_dashboard",
    "create_topic_distribution_plot",
    "render_all",
]
