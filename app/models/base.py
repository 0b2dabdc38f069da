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
