"""Keeping secrets out of crash reports, and request text out of log line breaks.

No I/O and no framework: `RequestInfo` scrubs the headers and query string it
reads with these, the traceback text of reports and log lines is scrubbed
with `scrub_text`, and the log line escapes what it takes from the request.

Whether a header, cookie or query parameter is sensitive is decided by its
name alone, case-blind and with ``-``, ``_`` and other punctuation alike
(`is_sensitive_name`). The list covers at least the defaults of Sentry's
Python SDK (``sentry_sdk.scrubber.DEFAULT_DENYLIST`` and
``DEFAULT_PII_DENYLIST``). A sensitive value is replaced by ``[Filtered]``
rather than dropped, as Sentry does: a report still shows that the request
carried, say, an ``Authorization`` header or a ``token`` parameter, which is
often what a crash turns on, and never what it held.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

__all__ = [
    "FILTERED",
    "escape_control",
    "escape_control_in_text",
    "is_sensitive_name",
    "scrub_headers",
    "scrub_query",
    "scrub_text",
]

FILTERED = "[Filtered]"
"""What a sensitive value is replaced with."""

# A name's words: ``X-Api-Key``, ``x_api_key`` and ``x.api.key`` have the same ones.
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# Words that mark a name wherever they appear in it, even run together with
# others (``csrftoken``, ``PHPSESSID``, ``mysql_pwd``, ``clientSecret``): no
# common header or parameter name holds one by chance.
_ANYWHERE = (
    "auth",  # Authorization, Proxy-Authorization, X-Auth-Token, oauth_token
    "token",  # X-Amz-Security-Token, Private-Token, access_token, XSRF-TOKEN
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "credential",  # X-Amz-Credential
    "session",  # sessionid, aiohttp_session, user_session
    "sessid",  # PHPSESSID
    "csrf",
    "xsrf",
    "cookie",  # Cookie, Set-Cookie, Cookie2
    "signature",  # X-Amz-Signature, X-Hub-Signature: they sign a request for whoever holds them
    "jwt",
    # "key" run together with what it opens; a bare "key" is a word of its own
    # below, so that monkey, turkey or hockey stay.
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "signingkey",
    "masterkey",
    "licensekey",
    "clientkey",
    "appkey",
    "subscriptionkey",
)
# Words that mark a name only as a word of their own.
_WORDS = frozenset(
    {
        "key",  # api-key, X-Api-Key, Ocp-Apim-Subscription-Key, Sec-WebSocket-Key
        "sid",  # connect.sid
        "sig",  # an Azure SAS signature
        "otp",
        "ip",  # X-Real-IP, X-Client-IP, CF-Connecting-IP, True-Client-IP, ip_address
    }
)
# Whole names, as words joined by "-".
_NAMES = frozenset(
    {
        "forwarded",  # RFC 7239: the client's address
        "remote-addr",
        "x-envoy-external-address",
        "symfony",  # Symfony's session cookie
    }
)
# Words holding "auth" that say nothing secret.
_HARMLESS = frozenset({"author", "authors", "authored", "authority"})


def is_sensitive_name(name: str) -> bool:
    """Whether a header, cookie or query parameter called ``name`` holds a secret or PII.

    Case-blind, and ``-``, ``_`` and other punctuation count alike. The test
    is by words: ``X-Api-Key`` and ``api_key`` are sensitive, ``Keep-Alive``
    and ``monkey`` are not.

    Example::

        is_sensitive_name("X-XSRF-TOKEN")  # True
        is_sensitive_name("x_forwarded_for")  # True
        is_sensitive_name("User-Agent")  # False
    """
    return _cached(name) if len(name) <= _CACHED_LENGTH else _sensitive(name)


def _sensitive(name: str) -> bool:
    words = [word for word in _SEPARATORS.split(name.lower()) if word]
    if not _WORDS.isdisjoint(words):
        return True
    dashed = "-".join(words)
    if dashed in _NAMES or dashed.endswith("forwarded-for"):  # X-Original-Forwarded-For too
        return True
    joined = "".join(word for word in words if word not in _HARMLESS)
    return any(word in joined for word in _ANYWHERE)


# Names come from clients, so the cache has bounds: 1024 names of up to 64
# characters, about 300 KiB at most. Real header and parameter names fit.
_CACHED_LENGTH = 64
_cached = functools.lru_cache(maxsize=1024)(_sensitive)


def scrub_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``headers`` with every sensitive value replaced by ``[Filtered]``, in order.

    ``Cookie`` and ``Set-Cookie`` are filtered whole, whatever cookies they
    hold: a cookie's name says little about what it grants. A ``Referer``
    keeps its URL with the query string scrubbed, as `scrub_query` does.

    Example::

        scrub_headers([("Authorization", "Bearer abc"), ("Accept", "*/*")])
        # (("Authorization", "[Filtered]"), ("Accept", "*/*"))
    """
    scrubbed = []
    for name, value in headers:
        if is_sensitive_name(name):
            scrubbed.append((name, FILTERED))
        elif "?" in value and name.lower() == "referer":
            url, _, query = value.partition("?")
            scrubbed.append((name, f"{url}?{scrub_query(query)}"))
        else:
            scrubbed.append((name, value))
    return tuple(scrubbed)


# A query string's separators: "&", and ";" which some servers split on too.
_QUERY_SEPARATOR = re.compile(r"([&;])")


def scrub_query(query: str) -> str:
    """``query`` (without the ``?``) with sensitive parameters' values replaced by ``[Filtered]``.

    Names are compared after percent-decoding (``api%5Fkey`` is ``api_key``).
    Everything else is kept byte for byte: the other parameters, the order,
    the separators and parameters with no value.

    Example::

        scrub_query("q=shoes&access_token=abc")  # "q=shoes&access_token=[Filtered]"
    """
    if "=" not in query:
        return query
    pieces = _QUERY_SEPARATOR.split(query)
    for index in range(0, len(pieces), 2):  # the odd ones are separators
        name, equals, value = pieces[index].partition("=")
        if value and is_sensitive_name(unquote_plus(name)):
            pieces[index] = f"{name}{equals}{FILTERED}"
    return "".join(pieces)


# A URL's userinfo, "://user:password@": the name ends at ":", the password at
# the last "@" before what ends an authority (a raw "@" in it is common) or a
# quoted string (a URL with a port and, later in the same JSON or repr, an
# email address are no password). A userinfo with no ":" ("://token@", as
# GitHub and GitLab take a token) is filtered whole. Each "://" is matched in
# one pass, bounded by the next "/", so the whole is linear.
_USERINFO = re.compile(
    r"://(?:([^\s/?#@:\"'`<>\\]*):[^\s/?#\"'`<>\\]*|[^\s/?#@:\"'`<>\\]+)@"
)
# A URL's query string in text, from "?" to what ends a URL in prose or a
# repr, and its fragment, from "#" (OAuth's implicit flow puts tokens there).
_QUERY_IN_TEXT = re.compile(r"([?#])([^\s#'\"<>`]*)")


def scrub_text(text: str) -> str:
    """``text`` with the passwords of URLs and the values of sensitive query parameters
    replaced by ``[Filtered]``.

    For an exception's message and traceback, which may quote a URL a client
    library was called with: ``scheme://user:password@`` keeps its user,
    ``scheme://token@`` (no ``:``) loses it whole, and a query string or a
    fragment is scrubbed as `scrub_query` does it, by the same names.
    The rest of the text is kept as it is.

    Example::

        scrub_text("for url 'https://svc:pw@h/v1?access_token=t&n=5'")
        # "for url 'https://svc:[Filtered]@h/v1?access_token=[Filtered]&n=5'"
    """
    if "://" in text:
        text = _USERINFO.sub(_without_password, text)
    if "?" in text or "#" in text:
        text = _QUERY_IN_TEXT.sub(_scrubbed_query, text)
    return text


def _without_password(match: re.Match[str]) -> str:
    if match[1] is None:  # no ":": the whole userinfo may be the token
        return f"://{FILTERED}@"
    return f"://{match[1]}:{FILTERED}@"


def _scrubbed_query(match: re.Match[str]) -> str:
    return f"{match[1]}{scrub_query(match[2])}"


# What would break a log line or mislead whoever reads it: C0 controls (CR,
# LF, NUL, tab, the file and group separators...), DEL, C1 controls (NEL among
# them), the Unicode line and paragraph separators, the bidirectional
# controls that reorder what a terminal shows, and lone surrogates, which no
# UTF-8 log file can hold.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


# The same, less the line feed and tab that a multi-line message (a validation
# error's list) is made of: for the message lines of a traceback's text.
_CONTROL_IN_TEXT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """``text`` with every control character written as a ``\\xNN`` or ``\\uNNNN`` escape.

    The result is one line that no terminal reorders: CR, LF, NUL, the other
    C0 and C1 controls, DEL, U+2028 and U+2029, the bidirectional controls
    and lone surrogates are escaped. Printable text comes back unchanged,
    backslashes included.

    Example::

        escape_control("/a\\r\\nERROR forged")  # "/a\\\\x0d\\\\x0aERROR forged"
    """
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escaped, text)


def escape_control_in_text(text: str) -> str:
    """`escape_control` for text of many lines: line feeds and tabs are kept.

    For an exception's message in a traceback: it may quote the request (a
    path parameter, a header), and a carriage return, an escape sequence or a
    bidirectional override there would overwrite or reorder what a terminal
    shows of the log, while a message of several lines stays readable.

    Example::

        escape_control_in_text("no tenant x\\r\\x1b[2J\\nline 2")
        # "no tenant x\\\\x0d\\\\x1b[2J\\nline 2"
    """
    if _CONTROL_IN_TEXT.search(text) is None:
        return text
    return _CONTROL_IN_TEXT.sub(_escaped, text)
