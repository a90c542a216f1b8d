"""Built-in backend plugins: the embedded local model, OpenAI, Anthropic, echo."""
