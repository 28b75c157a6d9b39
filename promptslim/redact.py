"""Base URLs without their secrets: what messages, reports, the cache key and the ledger may hold."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"key|token|secret|sig|pass|auth|cred|code", re.I)


def redact_url(url: str) -> str:
    """http://user:pass@host/v1?api-key=x -> http://***@host/v1?api-key=***; a URL without secrets is unchanged.

    Unchanged matters: the cache key includes the endpoint, so keys stay stable for every URL
    that carried no credentials.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(k) for k, _ in pairs):
            query = urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
