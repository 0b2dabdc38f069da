"""Fuzz the upload readers (xlsx, csv, GeoJSON) with generated malformed files, in this process
under a memory limit: `python -m tests.fuzz_readers COUNT SEED [LIMIT_MB]`.

Each file must be read or refused with a message (spreadsheet.Unreadable, a GeoJSON problem);
anything else (an exception, MemoryError) is listed as a crash. Prints one JSON line:
{"files": n, "refused": n, "read": n, "crashes": [[kind, seed, error], ...]} and exits 0 when
the process survived, whatever it found. tests/test_upload_fuzz.py runs it.
"""
import io
import json
import random
import resource
import sys
import tempfile
import traceback
from pathlib import Path

from tests.hostile import NS, deep_json, sparse_xlsx, text_cell, xlsx_parts

JUNK = [None, True, 0, -1, 1e308, float("nan"), "", "名", "=1+1", [], {}, [[]], {"a": {}}, "x" * 5000]


def _valid_xlsx(rng):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["户主姓名", "身份证号码", "联系电话", "村"])
    for i in range(rng.randint(1, 20)):
        sheet.append([f"户{i}", f"52010219800101{i:04d}", 13800000000 + i, "茶园村"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _column(n):
    letters = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def xlsx_file(rng):
    choice = rng.randrange(9)
    if choice == 0:  # truncated
        data = _valid_xlsx(rng)
        return data[:rng.randrange(len(data))]
    if choice == 1:  # bytes flipped
        data = bytearray(_valid_xlsx(rng))
        for _ in range(rng.randint(1, 30)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:  # far cells, a dimension that lies
        cells = {"A1": "户主姓名"}
        for _ in range(rng.randint(1, 4)):
            cells[f"{_column(rng.randint(1, 16384))}{rng.randint(1, 1048576)}"] = "x"
        return sparse_xlsx(cells, dimension=rng.choice([None, "A1", "A1:B2", "XFD1048576"]))
    if choice == 3:  # references that are no references
        ref = rng.choice(["A99999999999", "AAAAAAAAAAAAAAAAAAAA1", "1A", "", "$A$1", "a1", "Z0", "A-1",
                          "A" + "9" * 5000])
        cell = f'<c r="{ref}" t="inlineStr"><is><t>x</t></is></c>'
        return xlsx_parts({"xl/worksheets/sheet1.xml": f'<worksheet xmlns="{NS}"><sheetData><row r="1">{cell}'
                                                        f'</row></sheetData></worksheet>'})
    if choice == 4:  # cells and rows without references, many of them
        row = "<c><v>1</v></c>" * rng.randint(1, 3000)
        rows = f"<row>{row}</row>" * rng.randint(1, 50)
        return xlsx_parts({"xl/worksheets/sheet1.xml": f'<worksheet xmlns="{NS}"><sheetData>{rows}</sheetData>'
                                                        f'</worksheet>'})
    if choice == 5:  # entity expansion (billion laughs)
        entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        sheet = (f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]><worksheet xmlns="{NS}"><sheetData>'
                 f'<row r="1">{text_cell("A1", "&j;")}</row></sheetData></worksheet>')
        return xlsx_parts({"xl/worksheets/sheet1.xml": sheet})
    if choice == 6:  # broken XML, or no sheet at all
        return xlsx_parts(rng.choice([{"xl/worksheets/sheet1.xml": "<worksheet><sheetData><row"},
                                      {}, {"xl/worksheets/sheet1.xml": "\x00\xff" * 100}]))
    if choice == 7:  # a sheet that unpacks to much more than it weighs
        rows = "<row/>" * rng.randint(10_000, 200_000)
        return xlsx_parts({"xl/worksheets/sheet1.xml": f'<worksheet xmlns="{NS}"><sheetData>{rows}<row r="2">'
                                                        f'{text_cell("A2", "x")}</row></sheetData></worksheet>'})
    return b"PK\x03\x04" + rng.randbytes(rng.randint(0, 4000))


def csv_file(rng):
    choice = rng.randrange(7)
    if choice == 0:
        return rng.randbytes(rng.randint(1, 5000))
    if choice == 1:  # very wide
        return (",".join(["x"] * rng.randint(100, 150_000)) + "\n").encode()
    if choice == 2:  # a quote never closed, a field past the csv module's limit
        return rng.choice([b'a,b\n"open,' + b"x" * 200_000, b"a,b\n" + b"y" * 300_000 + b"\n"])
    if choice == 3:  # encodings mixed, NULs, lone carriage returns
        return "户主姓名,电话\n".encode() + "王一,138\n".encode("gbk") + b"\x00\r\r\n" * rng.randint(1, 50)
    if choice == 4:  # many rows, a few columns
        return b"a,b\n" + b"1,2\n" * rng.randint(1, 300_000)
    if choice == 5:
        return "\ufeff".encode() + ("锟斤拷," * rng.randint(1, 100)).encode()
    lines = (f"{rng.random()},{'=' * rng.randint(0, 3)}cmd" for _ in range(50))
    return ("户主姓名,身份证号码\n" + "\n".join(lines)).encode()


def _feature(rng):
    ring = [[107.60, 28.91], [107.61, 28.91], [107.61, 28.92], [107.60, 28.92], [107.60, 28.91]]
    return {"type": "Feature", "properties": {"name": "新区", "kind": "zone", "code": "Z1"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _mutate(value, rng, depth=0):
    if depth > 6 or rng.random() < 0.15:
        return rng.choice(JUNK)
    if isinstance(value, dict):
        return {k: _mutate(v, rng, depth + 1) if rng.random() < 0.5 else v for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, rng, depth + 1) if rng.random() < 0.5 else v for v in value]
    return value


def geojson_file(rng):
    choice = rng.randrange(5)
    if choice == 0:
        return deep_json(rng.choice([40, 900, 5000, 50_000, 200_000]))
    if choice == 1:
        inner = deep_json(rng.choice([5, 30, 200, 990]))
        return b'{"type":"FeatureCollection","datum":"wgs84","features":[{"type":"Feature","properties":{"name":' + \
            inner + b'},"geometry":{"type":"Polygon","coordinates":' + inner + b"}}]}"
    if choice == 2:
        return rng.randbytes(rng.randint(0, 3000))
    if choice == 3:
        return rng.choice([b'{"type":"FeatureCollection","datum":"wgs84","features":[{"type":"Feature",'
                           b'"geometry":{"type":"Polygon","coordinates":[[[NaN,Infinity],[1e999,-1e999]]]}}]}',
                           b'{"type":"FeatureCollection","datum":"wgs84","features":' + b"[" + b"{}," * 5000 + b"{}]}",
                           b'{"a":' * 100 + b"1" + b"}" * 100])
    collection = {"type": "FeatureCollection", "datum": "wgs84", "features": [_feature(rng) for _ in range(3)]}
    return json.dumps(_mutate(collection, rng), ensure_ascii=False).encode()


def read_spreadsheet(path):
    from app.imports.spreadsheet import DEFAULT_LIMITS, Table, Unreadable, sniff

    try:
        table = Table(path, sniff(path), None, limits=DEFAULT_LIMITS)
        try:
            for _ in table.rows():
                pass
        finally:
            table.close()
    except Unreadable:
        return "refused"
    return "read"


def read_geojson(data):
    from app import geo
    from app.imports.geojson import read_features

    result, geometries, _ = read_features(data, "wgs84")
    for geometry in geometries.values():
        shape, problems = geo.check_geometry(geometry)
        if problems:
            result.errors += problems
    return "read" if result.ok else "refused"


def main(count, seed, limit_mb=1024):
    limit = limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(1000)
    import app.imports.geojson  # noqa: F401  (loaded before the first file, under the limit)
    import app.imports.spreadsheet  # noqa: F401

    summary = {"files": 0, "refused": 0, "read": 0, "crashes": []}
    kinds = [("xlsx", xlsx_file), ("csv", csv_file), ("geojson", geojson_file)]
    with tempfile.TemporaryDirectory() as folder:
        for index in range(count):
            kind, make = kinds[index % 3]
            file_seed = seed * 100_000 + index
            data = make(random.Random(file_seed))
            path = Path(folder) / f"{index}.{kind}"
            path.write_bytes(data)
            try:
                outcome = read_geojson(data) if kind == "geojson" else read_spreadsheet(path)
            except (Exception, MemoryError) as error:  # a crash is what we are looking for
                tail = traceback.format_exception(error)[-1].strip()[:300]
                summary["crashes"].append([kind, file_seed, tail])
                outcome = "crash"
            finally:
                path.unlink()
            if outcome != "crash":
                summary[outcome] += 1
            summary["files"] += 1
    print(json.dumps(summary))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
