"""Optional integrations and vendor adapters, registered as plugins like the built-ins."""
