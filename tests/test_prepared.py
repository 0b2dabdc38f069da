"""Prepared queries (named parameters, SQL built once per database kind, rows with names)
and the bulk writers of app.db_bulk, on both databases."""
import ast
import datetime as dt
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from app import clock
from app.db import database, schema_tables
from app.db_bulk import bulk_insert, bulk_set, roomy_write_cache
from app.models import ALL_MODELS, Customer, CustomerChange, FollowUp, Territory, User, Visit
from app.models.prepared import Param, Prepared, PreparedInsert
from app.models.scope import manager_with_id

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(app, county):
    with app.app_context(), database.obj.connection_context():
        yield county


def counting(build):
    """build, counting how often it is called."""
    def counted(p):
        counted.calls += 1
        return build(p)
    counted.calls = 0
    return counted


def test_named_parameters_fill_their_places_whatever_the_order(db):
    mgr1 = db.users["mgr1"]
    query = Prepared("visits_of", lambda p: (Visit.select(Visit.id, Visit.outcome)
                                             .where((Visit.user == p.user_id) & (Visit.made_at >= p.since)
                                                    & (Visit.outcome != p.not_outcome))
                                             .order_by(Visit.id)))
    since = clock.now() - dt.timedelta(days=1)
    rows = query(not_outcome="refused", since=since, user_id=mgr1.id)
    assert [r.id for r in rows] == [db.visits["v_mgr1"].id]
    assert rows[0].outcome == "met"
    assert query(user_id=mgr1.id, since=since, not_outcome="met") == []
    assert query(user_id=mgr1.id, since=clock.now(), not_outcome="refused") == []


def test_a_parameter_used_twice_takes_one_value(db):
    mgr2 = db.users["mgr2"]
    query = Prepared("own_leads", lambda p: Customer.select(Customer.name)
                     .where(Customer.id.in_(Visit.select(Visit.customer).where(Visit.user == p.user_id))
                            & Customer.scope(manager_with_id(p.user_id), p.day)))
    assert [r.name for r in query(user_id=mgr2.id, day=clock.today())] == ["郑家杂货店"]


def test_the_sql_is_built_once_per_database_kind(db):
    build = counting(lambda p: Customer.select(Customer.id).where(Customer.name == p.name))
    query = Prepared("by_name", build)
    for name in ("周大福", "吴小梅", "无此人"):
        query(name=name)
    assert build.calls == 1
    assert query.sql().count(database.obj.param) == 1  # the name is a parameter, never in the text
    assert "周大福" not in query.sql()
    assert query.scalar(name="吴小梅") == db.customers["c_g1"].id


def test_rows_have_names_and_python_values(db):
    fixture_visit = db.visits["v_mgr1"]
    query = Prepared("follow_ups", lambda p: (FollowUp.select(FollowUp.id, FollowUp.due_on, Customer.name,
                                                              Customer.id.alias("customer_id"))
                                              .join(Customer).where(FollowUp.user == p.user_id)))
    due = clock.today() + dt.timedelta(days=3)
    FollowUp.create(customer=db.customers["c_v1"], user=db.users["mgr1"], due_on=due, source_visit=fixture_visit)
    (row,) = query(user_id=db.users["mgr1"].id)
    assert row.due_on == due and isinstance(row.due_on, dt.date)  # SQLite hands back text
    assert row.name == "周大福" and row.customer_id == db.customers["c_v1"].id
    made = Prepared("made_at", lambda p: Visit.select(Visit.made_at).where(Visit.id == p.id)).scalar(
        id=fixture_visit.id)
    assert isinstance(made, dt.datetime)


def test_values_go_through_the_field_they_are_compared_with(db):
    """A foreign key compared with a model instance takes its id, as peewee would give it."""
    mgr1 = db.users["mgr1"]
    query = Prepared("visits_by", lambda p: Visit.select(Visit.id).where(Visit.user == p.user))
    assert query.scalar(user=mgr1) == query.scalar(user=mgr1.id) == db.visits["v_mgr1"].id


def test_missing_or_unknown_values_are_refused(db):
    query = Prepared("by_id", lambda p: Customer.select(Customer.id).where(Customer.id == p.id))
    with pytest.raises(TypeError, match="missing values \\['id'\\]"):
        query()
    with pytest.raises(TypeError, match="unknown \\['other'\\]"):
        query(id=1, other=2)


def test_ids_for_in_take_fixed_slots(db):
    query = Prepared("page", lambda p: Customer.select(Customer.name)
                     .where(Customer.id.in_([p[f"id{i}"] for i in range(3)])).order_by(Customer.name))
    c = db.customers
    assert [r.name for r in query(id0=c["c_v1"].id, id1=c["c_b"].id, id2=0)] == sorted(["周大福", "钱乙"])
    assert query(id0=0, id1=0, id2=0) == []


def test_instance_reads_a_model_and_refuses_a_join(db):
    by_id = Prepared("user", lambda p: User.select().where((User.id == p.id) & User.active))
    user = by_id.instance(id=db.users["mgr1"].id)
    assert isinstance(user, User) and user.username == "mgr1" and user.branch_id == db.branches["A1"].id
    assert not user.is_dirty()
    assert by_id.instance(id=0) is None
    joined = Prepared("joined", lambda p: User.select(User.id, Customer.name).join(
        Customer, on=(Customer.branch == User.branch)).where(User.id == p.id))
    with pytest.raises(TypeError, match="fields"):
        joined.instance(id=db.users["mgr1"].id)


def test_cursor_hands_back_rows_by_position(db):
    query = Prepared("positions", lambda p: Customer.select(Customer.id, Customer.lat)
                     .where(Customer.territory == p.territory_id))
    assert query.cursor(territory_id=db.territories["VB"].id).fetchall() == [(db.customers["c_b"].id, 28.91)]


def test_a_param_reads_as_a_name_in_query_to_string(db):
    from peewee import query_to_string

    assert ":who" in query_to_string(Customer.select().where(Customer.id == Param("who")))


def test_a_prepared_insert_returns_the_new_id_and_fills_defaults(db):
    insert = PreparedInsert(CustomerChange)
    before = clock.now()
    new_id = insert(customer=db.customers["c_v1"].id, user=db.users["mgr1"].id, field="phone",
                    old="1", new="2")
    change = CustomerChange.get_by_id(new_id)
    assert (change.customer_id, change.field, change.old, change.new) == (db.customers["c_v1"].id, "phone", "1", "2")
    assert change.at >= before.replace(microsecond=0) - dt.timedelta(seconds=1)
    assert insert(customer=db.customers["c_v1"].id, field="name", old=None, new="x") == new_id + 1
    with pytest.raises(TypeError, match="unknown fields"):
        insert(customer=db.customers["c_v1"].id, colour="red")


# --- bulk writes --------------------------------------------------------------------------

def test_bulk_insert_returns_ids_in_order_across_batches(db):
    today = clock.today()
    rows = [{"customer": db.customers["c_v1"].id, "user": None, "field": "imported", "old": None,
             "new": f"file {i}", "at": clock.now()} for i in range(7)]
    ids = bulk_insert(CustomerChange, rows, batch=3, returning=True)
    assert len(ids) == 7 and ids == sorted(ids)
    assert [CustomerChange.get_by_id(i).new for i in ids] == [f"file {i}" for i in range(7)]
    # Sequences in the order of named columns; values converted as peewee would convert them.
    bulk_insert(Customer, [(db.branches["A1"].id, "新户", "household", True, "7", today)],
                ["branch", "name", "kind", "consent", "livestock_head", "consent_on"])
    new = Customer.get(Customer.name == "新户")
    assert (new.consent, new.livestock_head, new.consent_on) == (True, 7, today)
    assert bulk_insert(Customer, []) == []


@pytest.mark.parametrize("rebuild_from", [None, 1])
def test_bulk_set_writes_a_column_and_keeps_its_indexes(db, rebuild_from):
    c_v1, c_g1 = db.customers["c_v1"], db.customers["c_g1"]
    v2 = db.territories["V2"]
    with database.atomic():
        bulk_set(Customer, Customer.territory, [(v2.id, c_v1.id), (None, c_g1.id)],
                 rebuild_indexes_from=rebuild_from)
    assert Customer.get_by_id(c_v1.id).territory_id == v2.id
    assert Customer.get_by_id(c_g1.id).territory_id is None
    assert Customer.get_by_id(db.customers["c_b"].id).territory_id == db.territories["VB"].id
    if isinstance(database.obj, SqliteDatabase):
        names = {row[0] for row in database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customer'")}
        assert {"customer_territory_id", "customer_territory_id_tier"} <= names


def test_a_roomy_write_cache_changes_nothing_visible(db):
    roomy_write_cache()
    assert Territory.select().count() == 8


# --- the database module knows no model ----------------------------------------------------

@pytest.mark.parametrize("module", ["app/db.py", "app/db_bulk.py", "app/models/prepared.py"])
def test_the_database_modules_import_no_model(module):
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("app.models")}


def test_init_db_force_drops_every_table_of_the_schema(app, county, runner):
    assert set(schema_tables()) == {m._meta.table_name for m in ALL_MODELS}
    with app.app_context():  # as the flask command runs it
        result = runner.invoke(args=["init-db", "--force"])
    assert result.exit_code == 0, result.output
    with app.app_context(), database.obj.connection_context():
        assert Customer.select().count() == 0 and set(schema_tables()) <= set(database.obj.get_tables())
