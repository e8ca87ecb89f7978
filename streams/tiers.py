"""The tier a setting names, for either half."""

from __future__ import annotations

from streams.grip import FanoutTier, GripTier
from streams.hub import HubTier
from streams.nchan import NchanTier
from streams.records import PushRecords
from streams.settings import StreamTierSettings
from streams.tier import StreamTier


def open_tier(
    settings: StreamTierSettings, records: PushRecords, hub: HubTier | None = None
) -> StreamTier | None:
    """The configured tier. ``hub``: the origin's own (``None`` on the publisher's side, which
    has nothing to publish to then)."""
    if settings.tier == "nchan":
        return NchanTier(settings, records)
    if settings.tier == "pushpin":
        return GripTier(settings, records)
    if settings.tier == "fanout":
        return FanoutTier(settings, records)
    return hub
