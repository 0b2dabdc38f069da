"""schema.sql is the source of truth, and the peewee models mirror it exactly."""
import pytest
from peewee import TextField

from app.db import apply_schema, open_database
from app.models import ALL_MODELS, Customer, Visit
from tests.schema_introspect import differences, introspect


def _build_both(backend, request, tmp_path):
    """One database from schema.sql, one from the models; their introspections."""
    if backend == "sqlite":
        from_sql = open_database(f"sqlite:///{tmp_path}/from_sql.db")
        from_models = open_database(f"sqlite:///{tmp_path}/from_models.db")
        apply_schema(from_sql)
        with from_models.bind_ctx(ALL_MODELS):
            from_models.create_tables(ALL_MODELS)
        return introspect(from_sql), introspect(from_models)
    db = open_database(request.getfixturevalue("postgres_url"))
    db.connect()
    try:
        for schema in ("from_sql", "from_models"):
            db.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            db.execute_sql(f"CREATE SCHEMA {schema}")
        db.execute_sql("SET search_path TO from_sql")
        apply_schema(db)
        db.execute_sql("SET search_path TO from_models")
        with db.bind_ctx(ALL_MODELS):
            db.create_tables(ALL_MODELS)
        return introspect(db, "from_sql"), introspect(db, "from_models")
    finally:
        db.execute_sql("SET search_path TO public")
        db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_models_and_schema_sql_agree(backend, request, tmp_path):
    from_sql, from_models = _build_both(backend, request, tmp_path)
    assert len(from_sql) == len(ALL_MODELS)
    assert differences(from_sql, from_models) == []


def test_schema_has_the_constraints_the_design_needs(tmp_path):
    """Spot-check what the walk list, coverage and offline replays rely on."""
    db = open_database(f"sqlite:///{tmp_path}/z.db")
    apply_schema(db)
    schema = introspect(db)
    assert schema["visit"]["indexes"]["visit_client_uuid"] == {"columns": ("client_uuid",), "unique": True}
    assert schema["lead"]["indexes"]["lead_client_uuid"]["unique"]
    # one open lead per customer and product, kept by the database (issue 15)
    assert schema["lead"]["indexes"]["lead_one_open_per_customer_product"] == {
        "columns": ("customer_id", "product_id"), "unique": True,
        "where": "status in 'new', 'contacted', 'qualified'"}
    assert ("customer_id", "made_at") in {i["columns"][:2] for i in schema["visit"]["indexes"].values()}
    assert ("territory_id", "tier") in {i["columns"] for i in schema["customer"]["indexes"].values()}
    assert any("tier in ('gold', 'mass', 'potential')" in c for c in schema["customer"]["checks"])
    assert ("customer_id", "customer", "id", "RESTRICT") in schema["visit"]["foreign_keys"]


ALTERATIONS = {
    "an extra column": lambda: _add_field(Customer, "nickname", TextField(null=True)),
    "a column made nullable": lambda: _set_attr(Visit.outcome, "null", True),
    "a unique index made plain": lambda: _set_attr(Visit.client_uuid, "unique", False),
    "a dropped CHECK": lambda: _set_attr(
        Customer.tier, "constraints", [c for c in Customer.tier.constraints if "CHECK" not in c.sql]),
}


def _add_field(model, name, field):
    model._meta.add_field(name, field)
    return lambda: model._meta.remove_field(name)


def _set_attr(field, attr, value):
    old = getattr(field, attr)
    setattr(field, attr, value)
    return lambda: setattr(field, attr, old)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_the_comparison_catches_an_altered_model(backend, alteration, request, tmp_path):
    undo = ALTERATIONS[alteration]()
    try:
        from_sql, from_models = _build_both(backend, request, tmp_path)
    finally:
        undo()
    assert differences(from_sql, from_models) != []
