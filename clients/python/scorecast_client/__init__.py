"""Follow Scorecast games the way the edge wants to be used: SSE with ``Last-Event-ID``
resume, long-poll and conditional polling as fallbacks, jittered backoff, and never a version
older than the one already shown."""

from scorecast_client.follow import AsyncFollower, ClientError, Follower
from scorecast_client.policy import Mode, Settings

__all__ = ["AsyncFollower", "ClientError", "Follower", "Mode", "Settings"]
