"""Escaping text for Markdown reports: device strings (serial numbers, product names, errors) must
stay text, never become table cells, links, images, emphasis or raw HTML."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~])")
"""The characters that act inside a line (the text never starts a line: it follows `| ` or `# `)."""


def escape(text: str) -> str:
    """`text` with every Markdown special character backslash-escaped and line breaks as spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))
