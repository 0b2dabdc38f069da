"""Writing many rows at once, in each database's fastest way: the dialect branches of the
bulk writers (the importer, placing customers into territories, the demo county).

Knows no model: each function takes the model whose table it writes (for its table
name, columns and value conversions).
"""
import datetime as dt
import json
from collections.abc import Mapping

from peewee import (AutoField, BooleanField, CharField, FloatField, ForeignKeyField, IntegerField,
                    PostgresqlDatabase, SqliteDatabase, TextField)

from app.db import database

# SQLite (since 3.32) takes 32,766 parameters a statement; 500 rows of the archive's ~45
# columns stay well inside, and a bigger statement was no faster.
INSERT_BATCH = 500
UPDATE_PAGE = 5000  # rows per PostgreSQL UPDATE … FROM (VALUES …)

# The Python type a field's db_value hands back unchanged: a value already of that type
# (or None) goes to the driver as it is, which saves a call per value on big writes.
_AS_IS = ((BooleanField, bool), (IntegerField, int), (FloatField, float), (TextField, str),
           (CharField, str))


def _as_is_type(field):
    while isinstance(field, ForeignKeyField):
        field = field.rel_field
    for kind, python_type in _AS_IS:
        if isinstance(field, kind):
            return python_type
    return None


def _converter(field):
    """db_value for one column of a bulk write, with its repeated values converted once."""
    as_is, convert = _as_is_type(field), field.db_value
    seen = {}

    def to_db(value):
        if value is None or type(value) is as_is:
            return value
        if isinstance(value, (dt.date, dt.datetime)):  # a write's rows share their few dates
            try:
                return seen[value]
            except KeyError:
                seen[value] = converted = convert(value)
                return converted
        return convert(value)
    return to_db


def bulk_insert(model, rows, columns=None, batch=INSERT_BATCH, returning=False):
    """INSERT rows into model's table with multi-row statements of `batch` rows each.

    peewee's insert_many builds a query node for every value, which at 100,000 rows
    costs more than the write; this sends one statement text per batch size with plain
    parameters. rows are dicts keyed by field name (columns: the first row's keys) or
    sequences in the order of columns (fields or field names); dicts may leave a field out
    (its default is written). Every value is stored
    as peewee would store it (its field's db_value). With returning, the new ids in
    row order (both engines number a multi-row INSERT's rows in order).
    """
    if not rows:
        return []
    if columns is None and isinstance(rows[0], Mapping):
        # Dicts may name different fields: every named one is written, a missing value
        # taking its field's default as Model.create would.
        columns = sorted({name for row in rows for name in row})
    fields = [model._meta.fields[c] if isinstance(c, str) else c for c in columns]
    names = [f.name for f in fields]
    defaults = {f.name: f.default for f in fields if f.default is not None}
    converters = [_converter(f) for f in fields]
    column_list = ", ".join(f'"{f.column_name}"' for f in fields)
    one_row = "(" + ", ".join([database.param] * len(fields)) + ")"
    table = model._meta.table_name
    ids = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        sql = f'INSERT INTO "{table}" ({column_list}) VALUES ' + ", ".join([one_row] * len(chunk))
        if returning:
            sql += f' RETURNING "{model._meta.primary_key.column_name}"'
        params = []
        for row in chunk:
            values = ([row[n] if n in row else _default(defaults.get(n)) for n in names]
                      if isinstance(row, Mapping) else row)
            params.extend(c(v) for c, v in zip(converters, values))
        cursor = database.execute_sql(sql, params)
        if returning:
            ids.extend(r[0] for r in cursor.fetchall())
    return ids


def _default(value):
    return value() if callable(value) else value


def bulk_set(model, field, pairs, rebuild_indexes_from=None, page_size=UPDATE_PAGE):
    """UPDATE one column of model's table for (new value, row id) pairs, in few round trips.

    PostgreSQL: UPDATE … FROM (VALUES …) of page_size rows (psycopg2's execute_values).
    SQLite: one UPDATE … FROM json_each(?) over a JSON object {row id: value}, parsed in
    C and joined on the rowid (executemany of 100,000 UPDATEs took three times as long);
    from rebuild_indexes_from pairs on, the table's indexes on the column are dropped and
    rebuilt around the write, inside the caller's transaction: rebuilding them once is
    cheaper than updating them 100,000 times. Values must be JSON numbers, text or None.
    """
    if not pairs:
        return
    table, column = model._meta.table_name, field.column_name
    key = model._meta.primary_key.column_name
    cursor = database.cursor()
    if isinstance(database.obj, PostgresqlDatabase):
        from psycopg2.extras import execute_values

        cast = "::integer" if isinstance(field, (ForeignKeyField, IntegerField, AutoField)) else ""
        execute_values(cursor, f'UPDATE "{table}" AS t SET "{column}" = v.value '
                               f'FROM (VALUES %s) AS v (value, id) WHERE t."{key}" = v.id',
                       pairs, template=f"(%s{cast}, %s::integer)", page_size=page_size)
        return
    indexes = []
    if rebuild_indexes_from is not None and len(pairs) >= rebuild_indexes_from:
        indexes = cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql LIKE ?",
            (table, f'%"{column}"%')).fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute(f'UPDATE "{table}" SET "{column}" = v.value FROM json_each(?) AS v '
                   f'WHERE "{table}"."{key}" = CAST(v.key AS INTEGER)',
                   (json.dumps({row_id: value for value, row_id in pairs}),))
    for _, sql in indexes:
        cursor.execute(sql)


def roomy_write_cache():
    """Before a write of many rows on this connection: on SQLite, index pages stay in memory
    (128 MB) instead of spilling to the WAL again and again. Nothing on PostgreSQL."""
    if isinstance(database.obj, SqliteDatabase):
        database.execute_sql("PRAGMA cache_size = -131072")
