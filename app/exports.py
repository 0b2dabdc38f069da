"""Cells for the Excel files we hand out, written so that none of them runs as a formula.

A value typed by someone else (an uploaded cell, a customer's name, a note) that starts with
=, +, -, @, a tab or a carriage return would be taken by Excel or WPS for a formula (or a DDE
call such as =cmd|' /C calc'!A0) when the file is opened. Such text is written as a text cell
with Excel's quote prefix: it shows exactly as typed, stays text when edited, and never runs.
Every Excel export appends its rows through `row()`.
"""
from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def risky(value):
    """True for text that a spreadsheet program could read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def cell(sheet, value):
    """The value as a cell of sheet; risky text as a quote-prefixed text cell."""
    if not risky(value):
        return value
    out = WriteOnlyCell(sheet, value=value)
    out.data_type = "s"  # openpyxl made it a formula ("f") on seeing the "="
    out.quotePrefix = True
    return out


def row(sheet, values):
    """Append values to a sheet (write-only or not) with every risky text written as text."""
    if getattr(sheet, "_get_cell", None) is None:  # a write-only sheet takes cells in its row
        sheet.append([cell(sheet, v) for v in values])
        return
    sheet.append(list(values))
    for target, value in zip(sheet[sheet.max_row], values):
        if risky(value):
            target.value = value
            target.data_type = "s"
            target.quotePrefix = True
