"""Text helpers for generation methods: ROUGE-L and prompt templates."""
