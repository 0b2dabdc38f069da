"""Reading the bank's spreadsheets as a stream of rows: .xlsx (python-calamine) and .csv
(UTF-8 with or without BOM, GBK / GB18030), whatever their size.

.xlsx goes through calamine (Rust) rather than openpyxl: openpyxl's read-only parser costs
about 0.35 ms a row, most of a 100,000-row import's budget; calamine reads the same sheet
some twenty times faster. It holds the sheet's values at once (about 100 bytes a cell on the
Rust side), which stays far under the 500 MB budget at 200,000 rows of a 建档 list.

Pure functions of a file on disk: no database, no Flask. Problems are `Problem`s
holding an English msgid and its parameters, rendered in the reader's language later.
"""
import codecs
import csv
import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError, iterparse

from flask_babel import lazy_gettext as _l
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from app.imports.fields import guess_field

HEADER_SCAN_ROWS = 10  # a title row or two often sits above the header in 建档 lists
SAMPLE_BYTES = 256 * 1024
# What Excel (or a careless export) did to a long number: 5.20102E+17.
SCIENTIFIC = re.compile(r"^\s*[+-]?\d+(\.\d*)?[eE][+-]?\d+\s*$")
# UTF-8 text read as Latin-1 or Windows-1252 and saved again: 姓名 becomes å§“å.
LATIN_MOJIBAKE = re.compile(r"[\u00c0-\u00ff][\u0080-\u00bf\u2018-\u203a\u0152-\u0178]")


# What one import may hold (the config keys IMPORT_MAX_ROWS, IMPORT_MAX_COLUMNS, IMPORT_MAX_CELLS):
# the .xlsx reader builds the sheet's whole rectangle at about 42 bytes a cell, so the cells are
# counted as that rectangle (last row × last column), not as the cells filled in.
DEFAULT_LIMITS = {"rows": 250_000, "columns": 200, "cells": 5_000_000}
# A zip can shrink a sheet's XML a thousandfold: what it unpacks to is limited as well.
MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024
CELL_REF = re.compile(r"^\$?([A-Za-z]+)\$?(\d+)$")


@dataclass
class Problem:
    message: str
    params: dict = field(default_factory=dict)


class Unreadable(Exception):
    """The file cannot be read as a spreadsheet at all."""

    def __init__(self, message, **params):
        message = getattr(message, "_args", (message,))[0]  # the English msgid of a lazy string
        super().__init__(message)
        self.problem = Problem(message, {k: str(v) for k, v in params.items()})


def sniff(path, filename=""):
    """'xlsx' or 'csv' from the file's first bytes (never trusting the name alone)."""
    with open(path, "rb") as f:
        head = f.read(SAMPLE_BYTES)
    if not head.strip():
        raise Unreadable(_l("The file is empty."))
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable(_l("This is an old Excel .xls file: open it in Excel or WPS and save it as .xlsx, "
                         "then upload that."))
    if b"\x00" in head[:4096] or head.startswith(b"%PDF"):
        raise Unreadable(_l("This file is not a spreadsheet: upload an Excel .xlsx file or a .csv file."))
    return "csv"


def detect_encoding(path, declared=None):
    """The CSV's encoding: what the user declared, else UTF-8 (BOM or not), else GB18030.

    A declared UTF-8 that fails, or text that decodes but is garbled, is a Problem
    naming the likely cause, so nobody imports 锟斤拷 into the archive.
    """
    with open(path, "rb") as f:
        head = f.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif declared in ("gbk", "gb18030"):
        encoding = "gb18030"  # a superset of GBK: every GBK file reads the same
    else:
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            decoder.decode(head, final=False)  # a character cut at the sample's end is not an error
            encoding = "utf-8"
        except UnicodeDecodeError:
            if declared == "utf-8":
                raise Unreadable(_l("This file is not UTF-8: it looks like GBK, the encoding Excel uses for "
                                 "Chinese CSV files. Choose GBK (or automatic) and upload it again.")) from None
            encoding = "gb18030"
    # The sample may end inside a character: decode it as the start of a stream, not a whole.
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    garbled(text)
    return encoding


def garbled(text):
    """Raise when text shows the marks of a file saved through the wrong encoding."""
    if "锟斤拷" in text or "\ufffd" in text:
        raise Unreadable(_l("Some characters of this file were lost when it was saved with the wrong encoding "
                         "(锟斤拷 or �): export it again from the source, as UTF-8 or GBK."))
    if len(LATIN_MOJIBAKE.findall(text)) >= 3:
        raise Unreadable(_l("This file's Chinese text is garbled (like å§“å): it was opened with the wrong "
                         "encoding and saved again. Export it again from the source, as UTF-8 or GBK."))


def cell_text(value):
    """A cell as text: numbers without a trailing .0, blanks as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat(sep=" ")
    return str(value).strip()


def is_damaged_number(value):
    """True for a long number Excel stored as a float (digits past the 15th are gone)."""
    if isinstance(value, float):
        return abs(value) >= 1e9
    return isinstance(value, str) and bool(SCIENTIFIC.match(value))


def column_number(letters):
    if len(letters) > 4:
        return 26 ** 4  # beyond Excel's XFD; said as such rather than computed from a megabyte of letters
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number):
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _first_sheet_part(archive):
    """The zip member of the workbook's first worksheet (the one the reader opens)."""
    names = set(archive.namelist())
    try:
        targets = {}
        with archive.open("xl/_rels/workbook.xml.rels") as f:
            for _, element in iterparse(f):
                if _local(element.tag) == "Relationship" and element.get("Type", "").endswith("/worksheet"):
                    target = element.get("Target", "")
                    part = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
                    targets[element.get("Id")] = part
        with archive.open("xl/workbook.xml") as f:
            for _, element in iterparse(f):
                if _local(element.tag) == "sheet":
                    rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
                    if targets.get(rid) in names:
                        return targets[rid]
    except (KeyError, ParseError):
        pass
    # No readable workbook part: the reader will refuse the file, or read the first sheet it finds.
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    return sheets[0] if sheets else None


# The cells of a sheet as Excel, WPS and openpyxl write them: a start tag with its reference
# first, holding something (not self-closing); every cell tag; the empty ones. Each starts with
# a literal, which the regex engine finds at memchr speed. When the counts disagree (another
# attribute first, a prefixed tag, no reference) the XML parser places the cells instead.
FILLED_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^<>/]*>')
ANY_CELL = re.compile(rb"<c[\s/>]")
EMPTY_CELL = re.compile(rb"<c\s[^<>]*/>")
PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s/>]")


def _scan_cells(f):
    """(last row, last column, cells filled) by scanning the sheet's XML bytes (some thirty
    times faster than an XML parser); None when a cell's tag is not the plain kind it reads."""
    last_row = last_col = filled = 0
    head, tail = True, b""
    for block in iter(lambda: f.read(1 << 20), b""):
        if head and (block[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in block[:200]):
            return None  # UTF-16: the byte patterns do not apply
        head = False
        block = tail + block
        cut = block.rfind(b"<")
        block, tail = (block[:cut], block[cut:]) if cut > 0 else (b"", block)
        cells = FILLED_CELL.findall(block)
        if len(cells) + len(EMPTY_CELL.findall(block)) != len(ANY_CELL.findall(block)):
            return None
        if b":c" in block and PREFIXED_CELL.search(block):
            return None
        if cells:
            filled += len(cells)
            last_row = max(last_row, max(map(int, (number for _, number in cells))))
            widest = max(map(len, (letters for letters, _ in cells)))
            last_col = max(last_col, column_number(max(letters for letters, _ in cells if len(letters) == widest)
                                                   .decode()))
    if tail and (ANY_CELL.search(tail + b" ") or PREFIXED_CELL.search(tail + b" ")):
        return None
    return last_row, last_col, filled


def _parse_cells(f):
    """The same as _scan_cells through an XML parser, for cells without plain references
    (they follow the previous cell, as the readers place them)."""
    last_row = last_col = filled = 0
    row = col = cell_row = 0
    root = None
    for event, element in iterparse(f, events=("start", "end")):
        name = _local(element.tag)
        if event == "start":
            if root is None:
                root = element
            if name == "row":
                r = element.get("r") or ""
                row = int(r) if r.isdigit() else row + 1
                col = 0
            elif name == "c":
                match = CELL_REF.match(element.get("r") or "")
                if match:
                    col, cell_row = column_number(match.group(1)), int(match.group(2))
                else:
                    col, cell_row = col + 1, row
        elif name == "c" and len(element):
            filled += 1
            last_row, last_col = max(last_row, cell_row), max(last_col, col)
        elif name == "row":
            root.clear()  # what was read is counted: keep nothing
    return last_row, last_col, filled


def xlsx_extent(path):
    """(last row, last column, cells filled) of the first worksheet, streamed from its XML.

    The sheet's `<dimension>` is not trusted (a file may lack it, or lie): every `<c>` that
    holds something (a value, an inline string, a formula) is counted where it stands.
    Cells without a reference follow the previous one, as the readers place them.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise Unreadable(_l("This file unpacks to more than %(mb)s MB: it is not a customer list "
                                    "Excel writes."), mb=MAX_UNZIPPED_BYTES // (1024 * 1024))
            part = _first_sheet_part(archive)
            if part is None:
                return 0, 0, 0
            with archive.open(part) as f:
                extent = _scan_cells(f)
            if extent is None:  # cells without plain references: the XML parser places them
                with archive.open(part) as f:
                    extent = _parse_cells(f)
            return extent
    except (zipfile.BadZipFile, zlib.error, ParseError, OSError, EOFError, RuntimeError, ValueError,
            NotImplementedError, LookupError):  # a damaged zip, deflate stream or XML; an unknown encoding
        raise Unreadable(_l("This file is not a spreadsheet Excel can open: upload an Excel .xlsx "
                            "file or a .csv file.")) from None


def csv_extent(path, encoding):
    """(rows, widest row, cells filled) of a CSV file, streamed."""
    rows = width = filled = 0
    with open(path, "rb") as f:
        text = io.TextIOWrapper(f, encoding=encoding, errors="replace", newline="")
        try:
            for row in csv.reader(text):
                rows += 1
                width = max(width, len(row))
                filled += len(row)
        except csv.Error:
            raise Unreadable(_l("Line %(line)s of this CSV file is broken (a quote never closed?)."),
                             line=rows + 1) from None
    return rows, width, filled


def check_extent(last_row, last_col, limits):
    """Unreadable when the sheet is taller, wider or larger than limits allow."""
    if last_row > limits["rows"]:
        raise Unreadable(_l("The sheet reaches row %(rows)s; one import takes at most %(limit)s rows. Split "
                            "the file and import the parts one after the other."),
                         rows=last_row, limit=limits["rows"])
    if last_col > limits["columns"]:
        raise Unreadable(_l("The sheet reaches column %(column)s (%(columns)s columns); one import takes at "
                            "most %(limit)s. Delete the columns nobody needs, and any cell typed far to the "
                            "right, then upload it again."),
                         column=column_letters(last_col), columns=last_col, limit=limits["columns"])
    if last_row * last_col > limits["cells"]:
        raise Unreadable(_l("The sheet spans %(rows)s rows by %(columns)s columns (%(cells)s cells); one "
                            "import takes at most %(limit)s cells. Split the file, or delete stray cells far "
                            "from the list."),
                         rows=last_row, columns=last_col, cells=last_row * last_col, limit=limits["cells"])


class Table:
    """A spreadsheet's first sheet: header found, rows streamed, each with its file row number.

    With limits ({"rows", "columns", "cells"}, as DEFAULT_LIMITS) the file's extent is measured
    by streaming it first, and a file beyond them is Unreadable before any reader holds it
    whole; an upload is opened so once (uploads.new_job), and its job's file is trusted after.
    """

    def __init__(self, path, file_format, encoding=None, limits=None):
        self.path, self.file_format = path, file_format
        self.encoding = encoding
        self.merged = []  # (min_col, min_row, max_col, max_row), 1-based, from the sheet's XML
        self.total = None
        if file_format == "xlsx":
            if limits:
                check_extent(*xlsx_extent(path)[:2], limits)
            self._open_xlsx()
        else:
            self.encoding = detect_encoding(path, encoding)
            if limits:
                check_extent(*csv_extent(path, self.encoding)[:2], limits)
            self._count_lines()
        self.header_row, self.header = self._find_header()

    # -- reading ---------------------------------------------------------------------------
    def _open_xlsx(self):
        try:
            workbook = CalamineWorkbook.from_path(str(self.path))
            sheets = [m.name for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
            self.sheet = workbook.get_sheet_by_name(sheets[0]) if sheets else None
        except (CalamineError, OSError, ValueError, IndexError):  # a zip that is not a workbook, a broken one
            raise Unreadable(_l("This file is not a spreadsheet Excel can open: upload an Excel .xlsx "
                             "file or a .csv file.")) from None
        if self.sheet is None:
            raise Unreadable(_l("The file has no rows."))
        # calamine's ranges are 0-based ((first row, first col), (last row, last col)).
        self.merged = sorted({(c1 + 1, r1 + 1, c2 + 1, r2 + 1)
                              for (r1, c1), (r2, c2) in (self.sheet.merged_cell_ranges or [])},
                             key=lambda r: (r[1], r[0]))
        end = self.sheet.end
        self.total = end[0] + 1 if end else 0

    def _count_lines(self):
        count = 0
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                count += block.count(b"\n")
        self.total = count + 1

    def raw_rows(self):
        """(row number, list of raw values) for every row of the file, streaming."""
        if self.file_format == "xlsx":
            yield from self._xlsx_rows()
            return
        with open(self.path, "rb") as f:
            text = io.TextIOWrapper(f, encoding=self.encoding, errors="strict", newline="")
            reader = csv.reader(text)
            number = 0
            try:
                for number, row in enumerate(reader, start=1):
                    yield number, row
            except UnicodeDecodeError:
                raise Unreadable(_l("Line %(line)s of this file cannot be read as %(encoding)s: export the "
                                 "whole file again in one encoding (UTF-8 or GBK)."),
                                 line=number + 1, encoding=self.encoding.upper()) from None
            except csv.Error:
                raise Unreadable(_l("Line %(line)s of this CSV file is broken (a quote never closed?)."),
                                 line=number + 1) from None

    def _xlsx_rows(self):
        # calamine gives every row from the sheet's first (rows are absolute) but drops the empty
        # columns left of the first used one: put them back so column letters stay the file's.
        # Blank cells come as "" and whole numbers as floats; read them as openpyxl did (None,
        # int below 10^15), so a phone stored as a number is not taken for a damaged one.
        start = self.sheet.start
        left = [None] * (start[1] if start else 0)
        for number, row in enumerate(self.sheet.iter_rows(), start=1):
            out = list(left)
            for value in row:
                if value == "":
                    value = None
                elif type(value) is float and value.is_integer() and -1e15 < value < 1e15:
                    value = int(value)
                out.append(value)
            yield number, out

    def _find_header(self):
        """The header row: among the first rows, the one naming the most known columns."""
        best, best_score, first = None, 0, None
        for number, row in self.raw_rows():
            if number > HEADER_SCAN_ROWS:
                break
            texts = [cell_text(v) for v in row]
            if not any(texts):
                continue
            if first is None:
                first = (number, texts)
            score = sum(1 for t in texts if guess_field(t, "archive") or guess_field(t, "core"))
            if score > best_score:
                best, best_score = (number, texts), score
        chosen = best or first
        if chosen is None:
            raise Unreadable(_l("The file has no rows."))
        number, texts = chosen
        while texts and not texts[-1]:
            texts.pop()
        if self.file_format == "csv":
            garbled(" ".join(texts))
        return number, texts

    def rows(self):
        """(row number, values) below the header, blank rows skipped; merged data cells filled down."""
        fill = self._fill_down()
        width = len(self.header)
        for number, row in self.raw_rows():
            if number <= self.header_row:
                continue
            row = list(row[:width]) + [None] * (width - len(row))
            if fill:
                for col, value in fill(number, row):
                    row[col] = value
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            yield number, row

    def _fill_down(self):
        """Merged cells below the header (a village merged over its households' rows) read as filled."""
        below = [m for m in self.merged if m[1] > self.header_row and m[3] > m[1]]
        if not below:
            return None
        top_values = {}

        def fill(number, row):
            out = []
            for min_col, min_row, _max_col, max_row in below:
                if number == min_row:
                    top_values[(min_col, min_row)] = row[min_col - 1] if min_col - 1 < len(row) else None
                elif min_row < number <= max_row and min_col - 1 < len(row):
                    out.append((min_col - 1, top_values.get((min_col, min_row))))
            return out
        return fill

    def header_merges(self):
        """Merged ranges that cover the header row, as A1 references (for the message)."""
        from openpyxl.utils import get_column_letter

        return [f"{get_column_letter(a)}{b}:{get_column_letter(c)}{d}" for a, b, c, d in self.merged
                if b <= self.header_row <= d]

    def sample(self, n=5):
        rows = []
        for number, row in self.rows():
            rows.append((number, row))
            if len(rows) >= n:
                break
        return rows

    def close(self):
        self.sheet = None  # calamine's sheet holds its values until it is dropped


def header_signature(header):
    """The shape of a file: its normalised header, so the next file of that shape reuses its mapping."""
    import hashlib

    normal = "|".join(re.sub(r"\s+", "", h) for h in header)
    return hashlib.sha1(normal.encode()).hexdigest()[:20]
