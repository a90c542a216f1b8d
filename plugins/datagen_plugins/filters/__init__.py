"""Built-in quality-filter plugins: each module is its own entry point of the ``filter`` family."""
