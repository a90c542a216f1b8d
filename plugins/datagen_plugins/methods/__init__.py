"""Built-in generation-method plugins."""
