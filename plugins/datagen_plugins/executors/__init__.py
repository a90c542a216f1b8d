"""Executors: where a pipeline's row groups run (``local``: this process; ``ray``: a Ray cluster)."""
