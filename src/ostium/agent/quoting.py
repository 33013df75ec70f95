"""Quote user strings for haproxy.cfg so that they stay one word and mean themselves.

Role: the one place that turns untrusted text into haproxy configuration syntax.
Callers: `render`. HAProxy 2.6 parses each config line into words; inside double quotes
it expands `$VAR`/`${VAR}` and honours backslash escapes, including `\\xHH`. So every
user string is emitted double-quoted with `\\`, `"` and `$` escaped and every control
character, DEL and non-ASCII character written as `\\xHH` (its UTF-8 bytes): a newline
can never end the line, a quote can never end the word, `#` can never start a comment.
Strings that haproxy evaluates as log-format (header values sent by checks) additionally
get `%` doubled.

Keys that become part of a sample-fetch expression (header and cookie names) are not
quoted but validated against the HTTP token alphabet; anything else is refused.
"""

from __future__ import annotations

from ostium.model.tokens import is_safe_token


def quote(value: str) -> str:
    """`value` as one double-quoted haproxy word, with no special meaning left."""
    out: list[str] = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '\\"$':
            out.append("\\" + ch)
        elif code < 0x20 or code >= 0x7F:
            # Control characters and everything non-ASCII (incl. U+2028 line separator)
            # as \xHH of their UTF-8 bytes: haproxy decodes them to the same bytes and
            # the config file stays plain ASCII.
            out.extend(f"\\x{byte:02x}" for byte in ch.encode())
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def quote_logformat(value: str) -> str:
    """Like `quote`, for arguments haproxy evaluates as log-format strings."""
    return quote(value.replace("%", "%%"))


def is_token(value: str) -> bool:
    """True if `value` is an HTTP token safe to place inside a fetch's parentheses."""
    return is_safe_token(value)
