"""Keeping credentials out of reports and logs: passwords in URLs, tokens in queries."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@", re.I)
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:password|passwd|pass|token|api_key|apikey|secret|"
    r"p|u)=)[^&\s]+",
    re.I,
)


def redact(text: str) -> str:
    """`text` with URL passwords and secret query values replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}***", text)
