"""CSV cells a spreadsheet would run as formulas, written as text (OWASP's CSV injection advice).

eval --csv holds model answers and case ids, ablation.csv the template's own lines: text from a model, a pull
request or a teammate. A cell starting with = + - @ (or a tab or carriage return, or their full-width forms) is a
live formula in Excel, LibreOffice and Google Sheets (`=cmd|' /C calc'!A0`). Such text cells get a leading
single quote, which spreadsheets read as "this is text", and every text cell is quoted (pandas leaves a bare
carriage return unquoted, which splits a row); numbers stay numbers. Every CSV promptslim writes goes through
`csv_text`.
"""

from __future__ import annotations

import csv

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def cell(value: Any) -> Any:
    """A text cell that would start a formula, quoted; any other value as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def formula_safe(frame: "pandas.DataFrame") -> "pandas.DataFrame":
    """The frame with every text cell that would start a formula quoted (a copy)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    out = frame.copy()
    for column in out.columns:
        if not is_numeric_dtype(out[column]) and not is_bool_dtype(out[column]):  # text: object or str dtype
            out[column] = out[column].map(cell)
    return out


def csv_text(frame: "pandas.DataFrame") -> str:
    """The CSV of a frame, safe to open in a spreadsheet."""
    return formula_safe(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)
