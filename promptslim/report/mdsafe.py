"""Untrusted text in markdown (check.md, the PR comment, the step summary): shown as it is, never as structure.

A pull request names files, config keys and case ids. Printed raw, a file name holding a newline and `<!--` hides
every row after it behind an unclosed HTML comment, a config key adds a "## ✅" heading, `@someone` pings a person
and `[x](url)` plants a link in the bot's comment. So every string a pull request can choose goes through `code`
(an identifier: a backtick-safe code span on one line, where markdown, HTML, mentions and emoji mean nothing) or
`text` (a message of ours that may hold such names: escaped outside its code spans).
"""

from __future__ import annotations

import re

NEWLINE = "\u2424"  # ␤: where a name held a line break
_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # incl. bidi overrides
_SPAN = re.compile(r"(`+)([^`].*?)(?<!`)\1(?!`)")
# what can open HTML, a link or image, a table cell, a stray code span, an entity, or GitHub math ($x$); emphasis
# marks are left alone: they restyle a line of ours at worst, and names like max_input_tokens stay readable
_PUNCT = re.compile(r"([\\`<>\[\]|&]|\$(?=\S))")
_BLOCK = re.compile(r"^(\s*\d{0,9})(>|(?<!\d)#{1,6}(?=\s|$)|(?<!\d)[-+*](?=\s|$)|(?<=\d)[.)](?=\s|$))")  # a block start
_MENTION = re.compile(r"@(?=\w)")
_EMOJI = re.compile(r":(?=[a-z0-9_+-]+:)")
_LINKS = re.compile(r"(?i)(?<=\w)(://)|\b(www)\.")


def one_line(value: object) -> str:
    """The text on one line: line breaks shown as ␤, tabs as spaces, control and bidi characters as �."""
    s = _BREAKS.sub(NEWLINE, str(value)).replace("\t", " ")
    return _CONTROLS.sub("\ufffd", s)


def code(value: object, table: bool = False) -> str:
    """An untrusted identifier as a code span: a fence longer than any backtick run inside, padded when needed."""
    s = one_line(value)
    if table:
        s = s.replace("|", "\\|")  # GFM splits table cells before it sees code spans
    if not s.strip():
        return f"`{s or ' '}`" if "`" not in s else "` `"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s[0] in "` " or s[-1] in "` " else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _plain(s: str) -> str:
    s = _PUNCT.sub(r"\\\1", s)
    s = _MENTION.sub("@\u200b", s)
    s = _EMOJI.sub(":\u200b", s)
    return _LINKS.sub(lambda m: ":\u200b//" if m.group(1) else "www\u200b.", s)


def text(value: object, table: bool = False) -> str:
    """A message on one line: its code spans kept (made table-safe), everything else escaped so it stays text."""
    s = one_line(value)
    out, pos = [], 0
    for m in _SPAN.finditer(s):
        out.append(_plain(s[pos:m.start()]))
        inner = m.group(2)
        if len(inner) > 2 and inner[0] == inner[-1] == " " and inner.strip():
            inner = inner[1:-1]  # the padding CommonMark strips
        out.append(code(inner, table))
        pos = m.end()
    out.append(_plain(s[pos:]))
    return _BLOCK.sub(lambda m: m.group(1) + "\\" + m.group(2), "".join(out), count=1)
