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


def workbook(sheets):
    """An .xlsx file as bytes: sheets is [(title, header lines, column names, rows)].

    Each sheet starts with its header lines (what the figures are: the period, the scope, when
    it was made), a blank row, then the column names and the rows, every row through row()."""
    import io

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, lines, columns, rows in sheets:
        sheet = book.create_sheet(title=_sheet_title(title))
        for line in lines:
            row(sheet, [line])
        row(sheet, [])
        row(sheet, columns)
        for values in rows:
            row(sheet, values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(text):
    """A sheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in str(text)).strip("'") or "Sheet"
    return cleaned[:31]
