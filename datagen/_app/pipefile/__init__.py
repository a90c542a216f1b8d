"""Pipeline files: a whole dataset build in one YAML or TOML file.

:mod:`.spec` reads the file (every problem at once, each with ``file:line:column`` and its key path),
:mod:`.graph` orders the steps from their references and fingerprints them, :mod:`.steps` makes the
columns (samplers, LLM columns, conditions) and runs the stage plugins on rows, :mod:`.execute` runs the
row groups with a checkpoint per step and group, and :mod:`.api` is :class:`datagen.Pipeline`.
"""
