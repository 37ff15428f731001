"""Many processes, one ceiling: a rate limit (and a receiver inbox) shared through Redis.

CentrePoint counts its window of 500 requests a minute per IP address, and retries a webhook
delivery to whichever replica the load balancer picks. Several processes behind one address
therefore need one shared limiter, and several receiver replicas one shared inbox. Both live
here, on ``redis.asyncio`` (the optional extra ``centrepoint-async[redis]``).

- :class:`RedisRateLimit`: the semantics of :class:`~centrepoint_async.RateLimit` (a request
  holds a place from the moment it is sent until ``period`` after its answer), kept in one
  Redis sorted set, so any number of clients in any number of processes or hosts stay under
  the window together, and a 429 seen by one pauses all of them.
- :class:`RedisInbox`: the receiver's inbox (``WebhookReceiver(inbox=...)``) and dedupe record,
  shared by receiver replicas: a delivery is stored and its id claimed atomically before the
  2xx, and each is handled by one replica at a time (a lease, taken over if that replica dies).

Every Redis call has a timeout. When Redis is down or too slow, :class:`RedisUnavailableError`
(a :class:`~centrepoint_async.TransportError`) is raised: a shared limiter that cannot be
reached never lets requests through unlimited, and a receiver answers 503.
"""

from .._exceptions import RedisUnavailableError
from ._inbox import RedisInbox
from ._ratelimit import RedisRateLimit

__all__ = ["RedisInbox", "RedisRateLimit", "RedisUnavailableError"]
