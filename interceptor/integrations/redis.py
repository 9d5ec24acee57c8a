"""`classify` rules for redis-py (``redis`` and ``redis.asyncio``, which share its exceptions).

===========================================  ==========  ======  =========
redis exception                              category    status  retryable
===========================================  ==========  ======  =========
TimeoutError                                 TIMEOUT     504     yes
AuthenticationError, AuthorizationError,     PERMANENT   500     no
ExternalAuthProviderError,
AuthenticationWrongNumberOfArgsError
NoPermissionError (an ACL's NOPERM)          PERMANENT   500     no
MaxConnectionsError (the pool is exhausted)  TEMPORARY   503     yes
BusyLoadingError (loading its dataset)       TEMPORARY   503     yes
ReadOnlyError (a replica, after failover),   TEMPORARY   503     yes
TryAgainError, ClusterDownError,
MasterDownError
WatchError (a watched key changed)           TEMPORARY   503     yes
SlotNotCoveredError (a cluster resharding)   TEMPORARY   503     yes
other ConnectionError (refused, lost...)     TEMPORARY   502     yes
OutOfMemoryError (maxmemory reached)         PERMANENT   500     no
===========================================  ==========  ======  =========

redis's ``TimeoutError`` and ``ConnectionError`` are its own classes, not the
builtins of those names, so the stdlib rules never see them. The credential
and permission errors subclass ``ConnectionError`` (or ``ResponseError``) and
are named before it: a wrong password is our configuration, which no retry
cures. An exhausted pool is a ``ConnectionError`` too, but an operational one
(load, a leak): retryable, 503 (redis-py 5.0's ``ConnectionPool`` raises a
plain ``ConnectionError`` for it instead: TEMPORARY 502). ``WatchError`` is the
optimistic transaction losing a race, which a retry of the transaction is
meant to win, like a database's serialization failure. Other ``ResponseError`` (a wrong type, a bad
command) falls through to the default, PERMANENT 500. Names that only some
redis-py versions have are registered when present.

Each answer's ``detail``, what `interceptor.classified` shows instead of
redis's message (which names the server's host and port, and for a
``ResponseError`` the server's text about our keys), is fixed:

- TimeoutError: "The data store timed out."
- credential and permission errors: "The data store refused our credentials."
- MaxConnectionsError, BusyLoadingError, ReadOnlyError, TryAgainError,
  ClusterDownError, MasterDownError, WatchError, SlotNotCoveredError: "The
  data store is temporarily unavailable."
- other ConnectionError: "The data store could not be reached."
- OutOfMemoryError: "The data store is full."

Registered by `classify` the first time it sees a redis exception; calling
`register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import Category, Classification
from interceptor.integrations._wiring import register_present

__all__ = ["register"]

STORE_TIMED_OUT = "The data store timed out."
STORE_REFUSED_US = "The data store refused our credentials."
STORE_UNAVAILABLE = "The data store is temporarily unavailable."
STORE_UNREACHABLE = "The data store could not be reached."
STORE_FULL = "The data store is full."


def register() -> None:
    """Register the redis rules (imports redis)."""
    from redis import exceptions  # noqa: PLC0415 - the library is imported only once in use

    def rule(names: tuple[str, ...], value: Classification) -> None:
        register_present(exceptions, names, value)

    rule(("TimeoutError",), Classification(Category.TIMEOUT, detail=STORE_TIMED_OUT))
    rule(("ConnectionError",), Classification(Category.TEMPORARY, 502, detail=STORE_UNREACHABLE))
    # Before ConnectionError, which each of these subclasses (or ResponseError).
    rule(
        (
            "AuthenticationError",
            "AuthorizationError",
            "ExternalAuthProviderError",
            "AuthenticationWrongNumberOfArgsError",
            "NoPermissionError",
        ),
        Classification(Category.PERMANENT, detail=STORE_REFUSED_US),
    )
    rule(
        (
            "MaxConnectionsError",
            "BusyLoadingError",
            "ReadOnlyError",
            "TryAgainError",
            "ClusterDownError",
            "MasterDownError",
            "WatchError",
            "SlotNotCoveredError",  # a cluster's layout is changing: RedisCluster retries it
        ),
        Classification(Category.TEMPORARY, detail=STORE_UNAVAILABLE),
    )
    rule(("OutOfMemoryError",), Classification(Category.PERMANENT, detail=STORE_FULL))
