"""What a version number means to a client: the ETag it travels as, and the one rule every
delivery path keeps (architecture invariant 6): a client holding version N is never handed N or
anything older."""

from __future__ import annotations


def etag(version: int) -> str:
    """Strong validator: the version is the content (a version's body never changes)."""
    return f'"v{version}"'


def newer(candidate: int, held: int | None) -> bool:
    """May ``candidate`` go to a client that holds ``held`` (``None``: nothing yet)?"""
    return held is None or candidate > held
