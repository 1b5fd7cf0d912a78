"""Cache reset plugins: one module per server family (--reset-kv-cache)."""
