"""A bank's first day, as the README walks it: on an empty database, `flask init-db`,
`flask create-bank`, `flask create-user` for its first administrator, who then signs in over
HTTP and opens the bank's first branch. And what create-bank / create-union refuse, writing nothing."""
import threading

import pytest
from bs4 import BeautifulSoup
from werkzeug.serving import make_server

from app.db import database, drop_schema_tables, is_initialised
from app.models import Branch, User
from tests.http_session import Session

ADMIN_PASSWORD = "river-stone-77x"


@pytest.fixture
def empty(app):
    """The app on a database with no table at all, as a bank's server starts."""
    with database.obj.connection_context():
        drop_schema_tables(database.obj)
        assert not is_initialised(database.obj)
    return app


@pytest.fixture
def served(app):
    """The app served over real HTTP on a free port by a thread of this process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def flask(runner, *args):
    """`flask ARGS...` as the command line runs it (inside the app's context, as `flask` does)."""
    with runner.app.app_context():
        return runner.invoke(args=list(args))


def branches():
    with database.obj.connection_context():
        return sorted((b.code, b.kind, b.parent.code if b.parent_id else None) for b in Branch.select())


def test_a_bank_starts_from_nothing_and_its_admin_signs_in(empty, runner, served):
    assert flask(runner, "init-db").exit_code == 0
    made = flask(runner, "create-bank", "--code", "HB", "--name", "红河农商银行")
    assert made.exit_code == 0, made.output
    assert "flask create-user admin --name NAME --role admin --branch HB" in made.output
    admin = flask(runner, "create-user", "boss", "--name", "王管理", "--role", "admin", "--branch", "HB",
                  "--password", ADMIN_PASSWORD)
    assert admin.exit_code == 0, admin.output
    assert branches() == [("HB", "bank", None)]

    phone = Session(served)
    landing = phone.sign_in("boss", ADMIN_PASSWORD)
    assert landing.status == 200 and phone.path(landing) == "/admin/"
    # The admin opens the bank's first branch through the admin pages.
    bank_id = BeautifulSoup(phone.get("/admin/branches/new").text, "html.parser").select_one(
        "select[name=parent] option")["value"]
    added = phone.post_form("/admin/branches/new", {"name": "城关支行", "code": "HB01", "kind": "branch",
                                                    "parent": bank_id})
    assert added.status == 200 and phone.path(added) == "/admin/branches"
    tree = BeautifulSoup(phone.get("/admin/branches").text, "html.parser").select("#branch-tree > li")
    assert [row.select_one(".row-main").contents[0].strip() for row in tree] == ["红河农商银行", "城关支行"]
    assert branches() == [("HB", "bank", None), ("HB01", "branch", "HB")]


def test_create_bank_alone_makes_the_tables_of_an_empty_database(empty, runner):
    made = flask(runner, "create-bank", "--code", "HB", "--name", "红河农商银行")
    assert made.exit_code == 0, made.output
    assert branches() == [("HB", "bank", None)]


def test_a_union_hosts_banks_and_its_admin_sees_them_all(app, runner, served):
    assert flask(runner, "create-union", "--code", "GZ", "--name", "贵州省农村信用社联合社").exit_code == 0
    for code, name in (("HB", "红河农商银行"), ("QB", "黔北农商银行")):
        made = flask(runner, "create-bank", "--code", code, "--name", name, "--union", "GZ")
        assert made.exit_code == 0 and "under GZ" in made.output
    assert flask(runner, "create-user", "sheng", "--name", "省管理", "--role", "admin", "--branch", "GZ",
                 "--password", ADMIN_PASSWORD).exit_code == 0
    assert branches() == [("GZ", "union", None), ("HB", "bank", "GZ"), ("QB", "bank", "GZ")]
    phone = Session(served)
    assert phone.path(phone.sign_in("sheng", ADMIN_PASSWORD)) == "/admin/"
    tree = BeautifulSoup(phone.get("/admin/branches").text, "html.parser").select("#branch-tree > li")
    assert [row.select_one(".row-main").contents[0].strip() for row in tree] == [
        "贵州省农村信用社联合社", "红河农商银行", "黔北农商银行"]


REFUSALS = [
    (["create-bank", "--code", "HB", "--name", "另一家"], "代码 HB 已被占用"),
    (["create-bank", "--code", "hb", "--name", "另一家"], "代码 hb 已被占用"),
    (["create-union", "--code", "HB", "--name", "联社"], "代码 HB 已被占用"),
    (["create-bank", "--code", "NEW", "--name", "   "], "请填写银行名称"),
    (["create-bank", "--code", "NEW", "--name", ""], "请填写银行名称"),
    (["create-bank", "--code", "", "--name", "新行"], "代码为 1 至 20 个"),
    (["create-bank", "--code", "红河", "--name", "新行"], "代码为 1 至 20 个"),
    (["create-bank", "--code", "NEW", "--name", "新行" * 21], "最多 40 个字符"),
    (["create-bank", "--code", "NEW", "--name", "新行", "--union", "HB"], "HB 不是省联社"),
    (["create-bank", "--code", "NEW", "--name", "新行", "--union", "NOPE"], "NOPE 不是省联社"),
]


@pytest.mark.parametrize("args, reason", REFUSALS, ids=[" ".join(a[:3]) + f" #{i}" for i, (a, _) in
                                                       enumerate(REFUSALS)])
def test_bad_input_is_refused_with_a_reason_and_nothing_written(app, runner, args, reason):
    assert flask(runner, "create-bank", "--code", "HB", "--name", "红河农商银行").exit_code == 0
    before = branches()
    result = flask(runner, *args)
    assert result.exit_code != 0
    assert reason in result.output and "Nothing was written." in result.output
    assert branches() == before


def test_every_reason_is_given_at_once(app, runner):
    assert flask(runner, "create-bank", "--code", "HB", "--name", "红河农商银行").exit_code == 0
    result = flask(runner, "create-bank", "--code", "HB", "--name", "", "--union", "HB")
    assert result.exit_code != 0
    assert all(reason in result.output for reason in ("代码 HB 已被占用", "请填写银行名称", "HB 不是省联社"))


def test_the_first_admin_needs_an_existing_branch_code(empty, runner):
    result = flask(runner, "create-user", "boss", "--name", "王", "--role", "admin", "--branch", "HB",
                   "--password", ADMIN_PASSWORD)
    assert result.exit_code != 0 and "No branch with code HB" in result.output
    with database.obj.connection_context():
        assert not is_initialised(database.obj) or not User.select().exists()
