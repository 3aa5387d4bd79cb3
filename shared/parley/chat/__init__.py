"""The chat itself: plain functions over the ports in ``parley.ports``."""

from parley.chat.service import Caller, Ports  # noqa: F401
