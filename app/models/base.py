"""What every model shares: the database proxy, UTC timestamps, DDL defaults."""
from peewee import SQL, Check, DateTimeField, Model

from app import clock
from app.db import database


def default(sql):
    """A DEFAULT written into the DDL, so schema.sql and the models agree."""
    return SQL(f"DEFAULT {sql}")


def one_of(column, values):
    """A CHECK constraint limiting a column to a fixed vocabulary."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return Check(f"{column} IN ({quoted})")


def created_at_field():
    return DateTimeField(default=clock.now, constraints=[default("CURRENT_TIMESTAMP")])


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


_CACHED_SQL = {}


def run_cached(name, build, params):
    """Execute a hot query whose SQL peewee built once for this kind of database.

    Building a query's SQL costs peewee more than SQLite takes to run it; the check-in
    path runs the same few queries on every post. build() returns the query written
    with placeholder values; params are passed in the same order at each call.
    """
    db = database.obj
    key = (name, type(db))
    sql = _CACHED_SQL.get(key)
    if sql is None:
        sql = _CACHED_SQL[key] = build().sql()[0]
    return db.execute_sql(sql, params)


_SHAPES = {}


def run_shaped(name, build, **values):
    """Execute a query whose SQL peewee built once, with this call's values put in.

    Like run_cached, without listing parameters in SQL order by hand: build(**stand_ins)
    writes the query with a stand-in for each value (same type, a value nothing else in
    the query carries), and the positions where the stand-ins land are the ones this
    call's values fill. For the pages every manager opens all day (Today), where
    peewee's building took longer than SQLite's running.
    """
    db = database.obj
    key = (name, type(db))
    shape = _SHAPES.get(key)
    if shape is None:
        stand_ins = {k: _stand_in(v, i) for i, (k, v) in enumerate(values.items())}
        sql, params = build(**stand_ins).sql()
        slots, seen = [], set()
        for param in params:
            found = [k for k, s in stand_ins.items() if type(param) is type(s) and param == s]
            slots.append(found[0] if found else (None, param))
            seen.update(found)
        if seen != set(values):
            raise ValueError(f"{name}: stand-ins for {sorted(set(values) - seen)} did not reach the SQL")
        shape = _SHAPES[key] = (sql, slots)
    sql, slots = shape
    return db.execute_sql(sql, [values[s] if isinstance(s, str) else s[1] for s in slots])


def first_shaped(model, name, build, **values):
    """The first row of a run_shaped query selecting all of model's fields, as an instance."""
    row = run_shaped(name, build, **values).fetchone()
    if row is None:
        return None
    instance = model()
    for field, value in zip(model._meta.sorted_fields, row):
        instance.__data__[field.name] = field.python_value(value)
    instance._dirty.clear()
    return instance


def _stand_in(value, i):
    import datetime as dt

    if isinstance(value, bool):
        raise TypeError("a flag is not a stand-in: two would be indistinguishable")
    if isinstance(value, dt.datetime):
        return dt.datetime(1901 + i, 2, 3, 4, 5, 6, 789)
    if isinstance(value, dt.date):
        return dt.date(1901 + i, 2, 3)
    if isinstance(value, int):
        return 1_987_654_301 + i
    if isinstance(value, str):
        return f"\x01stand-in {i}"
    raise TypeError(f"no stand-in for {type(value).__name__}")


def insert_cached(model, values):
    """INSERT one row of model with values (a dict by field name; unset fields take their
    default) through SQL built once; returns the new id. For the check-in path."""
    fields = [f for f in model._meta.sorted_fields if f.name != "id"]
    params = []
    for f in fields:
        if f.name in values:
            value = values[f.name]
        else:
            value = f.default() if callable(f.default) else f.default
        params.append(f.db_value(value))
    db = database.obj

    def build():
        query = model.insert({f: f.db_value(None) for f in fields})
        return query.returning(model._meta.primary_key) if db.returning_clause else query

    cursor = run_cached(f"insert:{model._meta.table_name}", build, params)
    return cursor.fetchone()[0] if db.returning_clause else cursor.lastrowid
