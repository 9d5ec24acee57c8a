"""Classification rules for third-party libraries, registered on first use.

Each module here teaches `interceptor.classify` one library's exceptions. None
is imported by ``import interceptor``: the first time `classify` sees an
exception with a class from the library's top-level package in its MRO, it
imports the module and calls its ``register()`` once. An exception of the
library exists, so the library is imported already and this costs nothing.
A user's `interceptor.register_classifier` for the same type beats these rules.

Modules: `interceptor.integrations.httpx`, `interceptor.integrations.requests`,
`interceptor.integrations.aiohttp`, `interceptor.integrations.botocore`
(boto3 too), `interceptor.integrations.redis`, `interceptor.integrations.psycopg`,
`interceptor.integrations.psycopg2`,
`interceptor.integrations.asyncpg`, `interceptor.integrations.pymysql`,
`interceptor.integrations.sqlalchemy` (by the driver error it wraps first),
`interceptor.integrations.grpc`, `interceptor.integrations.google`
(google-api-core). The database modules share one SQLSTATE and MySQL
error-number table (``interceptor.integrations._sql``).

Not a library's rules, and never loaded by `classify`:
`interceptor.integrations.retry`, retry predicates for tenacity and stamina
built on `classify`.

Every rule gives a fixed ``detail`` (`interceptor.Classification.detail`),
which `interceptor.classified` shows instead of the library's message: that
message names the upstream's host and URL (credentials in its query too), or
holds the SQL and its bound parameters, so it goes to the log line and the
crash report only. The upstream texts are shared, in ``interceptor._classify``
(``UPSTREAM_TIMED_OUT``, ``UPSTREAM_UNREACHABLE``, ...), so one cause reads the
same whichever client met it.

Adding the next one (say ``kafka`` or ``pymongo``):

1. Write ``interceptor/integrations/<package>.py``, named after the library's
   top-level package, with a ``register()`` that imports the library *inside
   the function* and calls ``interceptor._classify.register_builtin(type,
   rule)`` per exception type. A rule is a `Category`, a `Classification`,
   or a function ``fn(exc)`` returning either of them, or ``None`` to let the
   next rule (a base class, then duck typing) decide. Subclasses are looked
   up before their bases, so register the specific types you mean; an
   instance-dependent answer (an error code, a response) needs a function.
2. Add the package name to ``INTEGRATIONS`` in ``interceptor/_classify.py``.
3. For an upstream HTTP answer, reuse ``upstream(status, retry_after_header)``:
   429 THROTTLED with the delay, 408 TIMEOUT, 5xx TEMPORARY 502, and 502 for
   the rest, so a dependency's 401 or 403 never becomes our own. It gives the
   fixed details too; ``header(headers)`` reads a ``Retry-After`` from any
   headers object without raising. For other causes give a
   ``Classification(..., detail=...)``: a shared ``UPSTREAM_*`` text, or one
   of the library's own that names no host, URL, query or value.
4. Test with the library's real exception instances (that no body carries
   their message, too), and extend the subprocess tests that ``import
   interceptor`` imports no library.

See `interceptor.integrations.botocore` (an error code decides) and
`interceptor.integrations.redis` (names only some versions have) for two
short ones. A ``register()`` that answers ``False`` is asked again for the
next new exception type of its package: `interceptor.integrations.google`
does so until google-api-core is imported, as ``google`` is a namespace.
"""
