"""The skeleton of a user name: two names with the same skeleton look alike, so only one may be registered.

User names are ASCII (``model.USERNAME_RE``), so no Unicode homoglyph (Cyrillic ``а``, fullwidth letters…)
can be part of one; the look-alikes left are among the allowed characters. The skeleton is Unicode TR39's
idea (map every character to a prototype it can be confused with) restricted to that alphabet:

- letter case is ignored (``ALICE`` = ``alice``);
- ``I``, ``l``, ``i`` and ``1`` become ``l`` (TR39's confusables.txt maps ``1`` and ``I`` to
  ``l``; ``i`` is added because case is ignored, so ``I`` and ``i`` must agree);
- ``O``, ``o`` and ``0`` become ``o``;
- leading and trailing ``.``, ``_`` and ``-`` are dropped (``alice.`` = ``alice``).

A unique index on the skeleton enforces it (``adapters.mongo``), never a read followed by a write.
"""

from __future__ import annotations

_PROTOTYPE = str.maketrans({"i": "l", "1": "l", "0": "o"})
_EDGES = "._-"


def skeleton(username: str) -> str:
    """The form two confusable names share (``aIice``, ``a1ice``, ``alice.`` and ``ALICE`` → ``allce``)."""
    return username.lower().translate(_PROTOTYPE).strip(_EDGES)
