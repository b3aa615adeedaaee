# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What of a URL or a secret may appear in a message, a warning or a result.

A webhook URL often carries its token (https://hooks.example/T0/B0/XXXX, ?token=..., or
user:password@host): messages show its scheme and host only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MASK = '********'


def url_origin(url) -> str:
    """'https://hooks.example:8443' of any URL: scheme, host and port, never the user, password,
    path, query or fragment. Something that is not a URL becomes '<unparsable URL>'."""
    text = '' if url is None else str(url).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ''
        port = parts.port
    except ValueError:
        return '<unparsable URL>'
    if not parts.scheme or not host:
        return '<unparsable URL>'
    if ':' in host:
        host = f'[{host}]'
    return f"{parts.scheme.lower()}://{host}{'' if port is None else f':{port}'}"


def secret_parts(url) -> list[str]:
    """The pieces of a URL that may be secret (everything but scheme and host), longest first,
    each at least 4 characters: what redact() must remove from error texts."""
    text = '' if url is None else str(url).strip()
    pieces = {text}
    try:
        parts = urlsplit(text)
        pieces.update({parts.username or '', parts.password or '', parts.path, parts.query, parts.fragment,
                       parts.netloc if '@' in parts.netloc else ''})
        pieces.update(segment for segment in parts.path.split('/'))
        pieces.update(value for pair in parts.query.split('&') for value in pair.split('=', 1)[1:])
    except ValueError:
        pass
    return sorted((piece for piece in pieces if piece and len(piece) >= 4), key=len, reverse=True)


def redact(text, secrets) -> str:
    """text with every secret (and every secret part of a URL given in secrets) replaced by a
    mask. Secrets shorter than 4 characters are left: masking them would garble the text."""
    out = '' if text is None else str(text)
    pieces = set()
    for secret in secrets or []:
        if secret is None or secret == '':
            continue
        pieces.add(str(secret))
        pieces.update(secret_parts(secret))
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 4:
            out = out.replace(piece, MASK)
    return out
