"""Tokenizer plugins: count prompt and output tokens (``--tokenizer``)."""
