"""The wire adapters, one per provider wire format, and the catalog of provider types."""
