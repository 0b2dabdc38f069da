"""Queries whose SQL is built once per kind of database, with named parameters.

Building a query's SQL costs peewee more than SQLite takes to run it, and the pages
every manager opens all day (Today) and the check-in run the same few queries on
every request. A hot query is declared once, at module level, as a peewee query
written with named parameters::

    SIGNED_IN = Prepared("signed_in_user",
                         lambda p: User.select().where((User.id == p.user_id) & User.active))
    user = SIGNED_IN.instance(user_id=7)

`p.user_id` is a peewee node (Param) that leaves a placeholder in the SQL and its name
in the parameter list, so the rule stays inside the query (scope.py's manager scope
built for `manager_with_id(p.user_id)`, never a second copy of it in SQL text). The SQL
is built on first use for the bound database's kind (SQLite or PostgreSQL) and kept;
each call fills the named places with its keyword values, converted by the field they
are compared with (its db_value), as peewee would have converted them.

Rows come back as named tuples, each selected field's value converted by its
python_value (SQLite hands dates back as text). Lists of ids for IN take fixed slots
(`Customer.id.in_([p[f"id{i}"] for i in range(30)])`), one SQL text for any list.
"""
import threading

from peewee import ColumnBase, Field, ModelNamedTupleCursorWrapper

from app.db import database


class Param(ColumnBase):
    """A named parameter: a placeholder in the SQL, its name in the parameter list.

    The converter is the one in force where it is written (the db_value of the field it
    is compared with) unless one is given; it is applied to the value at each call.
    """

    def __init__(self, name, converter=None):
        self.name = name
        self.param_converter = converter

    def __sql__(self, ctx):
        if ctx.state.value_literals:
            return ctx.literal(f":{self.name}")
        ctx._values.append(_Slot(self.name, self.param_converter or ctx.state.converter))
        return ctx.literal(ctx.state.param or "?")


class _Slot:
    __slots__ = ("name", "converter")

    def __init__(self, name, converter):
        self.name, self.converter = name, converter

    def __str__(self):  # as query_to_string() shows it
        return f":{self.name}"


class _Names:
    """What a query is built with: p.name or p["name"] is the Param of that name."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Param(name)

    def __getitem__(self, name):
        return Param(name)


class _Shape:
    """A query's SQL for one kind of database, and how each call's values fill it."""

    def __init__(self, query, sql, params):
        self.query, self.sql = query, sql
        self.template = [None if isinstance(v, _Slot) else v for v in params]
        self.fills = [(i, v.name, v.converter) for i, v in enumerate(params) if isinstance(v, _Slot)]
        self.names = frozenset(name for _, name, _ in self.fills)
        self.lock = threading.Lock()
        self.row_type = None   # the named tuple and converters, from the first cursor
        self.converting = ()
        self.fields = None

    def params(self, prepared, values):
        if values.keys() != self.names:
            missing, unknown = sorted(self.names - values.keys()), sorted(values.keys() - self.names)
            raise TypeError(f"{prepared.name}: missing values {missing}, unknown {unknown}")
        params = list(self.template)
        for i, name, converter in self.fills:
            value = values[name]
            params[i] = converter(value) if converter is not None else value
        return params

    def learn_rows(self, cursor):
        """Names and converters of the selected columns, as peewee's namedtuples() finds them."""
        with self.lock:
            if self.row_type is None:
                wrapper = ModelNamedTupleCursorWrapper(cursor, self.query.model, self.query._returning)
                wrapper.initialize()
                self.converting = [(i, c) for i, c in enumerate(wrapper.converters) if c is not None]
                self.fields = wrapper.fields
                self.row_type = wrapper.impl


class Prepared:
    """A query declared once with named parameters; its SQL is built once per database kind.

    build(p) returns a peewee query written with p.<name> where each value goes.
    Calling the Prepared with those names as keywords runs it and returns its rows as
    named tuples; one(), scalar() and instance() read the first row; cursor() hands back
    the driver's cursor (rows by position, unconverted: for thousands of numbers).
    """

    def __init__(self, name, build):
        self.name, self.build = name, build
        self._shapes = {}

    def __repr__(self):
        return f"<Prepared {self.name}>"

    def shape(self, db=None):
        db = db or database.obj
        shape = self._shapes.get(type(db))
        if shape is None:
            query = self.build(_Names())
            sql, params = query.sql()
            shape = self._shapes[type(db)] = _Shape(query, sql, params)
        return shape

    def sql(self):
        """The SQL text for the bound database, with its placeholders."""
        return self.shape().sql

    def cursor(self, **values):
        """Run the query; the driver's cursor, rows by position and unconverted."""
        db = database.obj
        shape = self._shapes.get(type(db)) or self.shape(db)
        return db.execute_sql(shape.sql, shape.params(self, values))

    def _rows(self, cursor, limit=None):
        shape = self._shapes[type(database.obj)]
        if shape.row_type is None:
            shape.learn_rows(cursor)
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        make, converting = shape.row_type._make, shape.converting
        if not converting:
            return [make(row) for row in rows]
        out = []
        for row in rows:
            row = list(row)
            for i, convert in converting:
                row[i] = convert(row[i])
            out.append(make(row))
        return out

    def __call__(self, **values):
        """Every row, as named tuples with each field's python_value applied."""
        return self._rows(self.cursor(**values))

    def one(self, **values):
        """The first row, or None."""
        rows = self._rows(self.cursor(**values), limit=1)
        return rows[0] if rows else None

    def scalar(self, **values):
        """The first column of the first row, or None."""
        row = self.one(**values)
        return None if row is None else row[0]

    def instance(self, **values):
        """The first row as an instance of the query's model (selecting only its fields), or None."""
        row = self.one(**values)
        if row is None:
            return None
        shape = self._shapes[type(database.obj)]
        model = shape.query.model
        instance = model(__no_default__=1)
        for field, value in zip(shape.fields, row):
            if not isinstance(field, Field) or field.model is not model:
                raise TypeError(f"{self.name}: instance() needs only {model.__name__}'s fields selected")
            instance.__data__[field.name] = value
        instance._dirty.clear()
        return instance


class PreparedInsert:
    """INSERT one row of a model through SQL built once per database kind; returns the new id.

    Values go by field name; an unset field takes its default, as Model.create would
    give it; each value goes through its field's db_value.
    """

    def __init__(self, model):
        self.model = model
        key = model._meta.primary_key
        self.fields = [f for f in model._meta.sorted_fields if f is not key]
        self.names = frozenset(f.name for f in self.fields)
        self._prepared = Prepared(f"insert:{model._meta.table_name}", self._build)

    def _build(self, p):
        query = self.model.insert({f: Param(f.name, f.db_value) for f in self.fields})
        if database.obj.returning_clause:
            query = query.returning(self.model._meta.primary_key)
        return query

    def __call__(self, **values):
        if not values.keys() <= self.names:
            raise TypeError(f"{self.model.__name__}: unknown fields {sorted(values.keys() - self.names)}")
        row = {}
        for f in self.fields:
            if f.name in values:
                row[f.name] = values[f.name]
            else:
                row[f.name] = f.default() if callable(f.default) else f.default
        cursor = self._prepared.cursor(**row)
        return cursor.fetchone()[0] if database.obj.returning_clause else cursor.lastrowid
