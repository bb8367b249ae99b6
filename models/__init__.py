"""Shipped checkpoints (data, not code): models/house is the default house model."""
