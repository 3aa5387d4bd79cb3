"""The chat itself: plain functions over the ports in ``parley.ports``."""
