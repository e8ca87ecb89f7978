"""The stream tier: what holds fans' SSE streams and long-polls, both halves in one place.

A score change reaches held streams in two halves that meet here. The publisher's half hands each
new version to whatever holds the streams (:meth:`StreamTier.publish`, kept in order per game by
:class:`streams.backlog.PushBacklog`); the origin's half answers a stream or long-poll request by
telling the tier to hold it (:meth:`StreamTier.stream`, :meth:`StreamTier.long_poll`), after the
origin's resume rule decided what the client lacks. One module per tier:

- :mod:`streams.hub`: the origin holds streams itself, fed by the change streams in Redis;
- :mod:`streams.nchan`: Nchan (nginx) holds game streams, the self-hosted production tier;
- :mod:`streams.grip`: a GRIP proxy holds everything: Pushpin locally, Fastly Fanout in
  production.

Which tier holds which resource is :attr:`streams.tier.StreamTier.holds`; a resource a tier does not
hold, or a request that did not come through it, is held by the origin's own hub.
"""
