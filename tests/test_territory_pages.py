"""The import page, the import command and the list of customers to place."""
import datetime
import io

from app.db import database
from app.models import Customer, Territory
from tests.conftest import csrf_token, login, soup
from tests.test_territory_import import collection, new_zone_features


def count_territories(app):
    with app.app_context(), database.obj.connection_context():
        return Territory.select().count()


def upload(client, data, **form):
    token = csrf_token(client, "/territories/import")
    fields = {"csrf_token": token, "branch": form.pop("branch", ""), "datum": form.pop("datum", "")}
    fields["file"] = (io.BytesIO(data), "territories.geojson")
    return client.post("/territories/import", data=fields, content_type="multipart/form-data")


def test_a_team_lead_previews_then_confirms_an_import(app, county, login_as):
    client = login_as("lead1")
    before = count_territories(app)
    a1 = county.branches["A1"].id
    preview = upload(client, collection(new_zone_features()), branch=str(a1))
    assert preview.status_code == 200
    page = soup(preview)
    assert [td.get_text() for td in page.select("#preview tbody tr td:nth-of-type(2)")] == ["新区", "新甲村", "新乙村"]
    # The kind reads in Chinese, not as the file's code.
    assert [td.get_text() for td in page.select("#preview tbody tr td:nth-of-type(3)")] == ["片区", "村", "村"]
    assert count_territories(app) == before  # a preview writes nothing
    confirm = page.select_one("#preview form")
    data = {field["name"]: field["value"] for field in confirm.select("input")}
    response = client.post(confirm["action"], data=data)
    assert response.status_code == 302 and response.location == "/map"
    assert count_territories(app) == before + 3
    # The token was used up: confirming twice cannot write twice.
    assert client.post(confirm["action"], data=data).status_code == 400


def fresh_sign_in(app, username="lead1"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_unconfirmed_previews_are_deleted_after_a_day(app, county, login_as, tmp_path):
    """A file checked and never confirmed is kept a day for its confirmation, then deleted
    the next time anyone previews or confirms a file; a fresh one stays."""
    from app import clock

    client = login_as("lead1")
    a1 = str(county.branches["A1"].id)
    folder = tmp_path / "imports"
    app.config["IMPORT_FOLDER"] = str(folder)

    def token_of(response):
        return soup(response).select_one("#preview input[name=token]")["value"]

    abandoned = token_of(upload(client, collection(new_zone_features()), branch=a1))
    assert (folder / f"{abandoned}.json").exists()
    clock.travel(datetime.timedelta(hours=23))
    client = fresh_sign_in(app)  # an idle session has expired meanwhile
    recent = token_of(upload(client, collection(new_zone_features()), branch=a1))
    assert (folder / f"{abandoned}.json").exists()  # under a day: still confirmable
    clock.travel(datetime.timedelta(hours=2))
    client = fresh_sign_in(app)
    latest = token_of(upload(client, collection(new_zone_features()), branch=a1))
    assert not (folder / f"{abandoned}.json").exists()
    assert (folder / f"{recent}.json").exists() and (folder / f"{latest}.json").exists()
    # The abandoned preview can no longer be confirmed; nothing is written by trying.
    before = count_territories(app)
    stale = client.post("/territories/import", data={
        "csrf_token": csrf_token(client, "/territories/import"), "token": abandoned,
        "branch": a1, "datum": "", "confirm": "1"})
    assert stale.status_code == 400 and count_territories(app) == before
    # Confirming clears what has grown old meanwhile too.
    clock.travel(datetime.timedelta(hours=23))
    client = fresh_sign_in(app)  # an idle session has expired meanwhile
    done = client.post("/territories/import", data={
        "csrf_token": csrf_token(client, "/territories/import"), "token": latest,
        "branch": a1, "datum": "", "confirm": "1"})
    assert done.status_code == 302
    assert not list(folder.glob("*.json"))


def test_a_bad_file_shows_its_problems_in_chinese_and_offers_no_confirmation(app, county, login_as):
    client = login_as("lead1")
    features = new_zone_features()
    features[1]["properties"]["parent"] = "不存在的片区"
    response = upload(client, collection(features), branch=str(county.branches["A1"].id))
    assert response.status_code == 422
    page = soup(response)
    assert page.select_one("#preview form") is None
    assert "文件和本支行中都没有网格“不存在的片区”" in page.select_one("#preview tbody").get_text()
    broken = upload(client, b"{not json", branch=str(county.branches["A1"].id))
    assert broken.status_code == 422
    assert "不是有效的 JSON" in soup(broken).select_one("#preview p.error").get_text()


def test_a_team_lead_cannot_import_into_another_branch(app, county, login_as):
    client = login_as("lead2")
    response = upload(client, collection(new_zone_features()), branch=str(county.branches["A1"].id))
    assert response.status_code == 404
    options = [o["value"] for o in soup(client.get("/territories/import")).select("#branch option")]
    assert options == [str(county.branches["A2"].id)]


def test_a_manager_cannot_reach_the_import_page(app, county, login_as):
    client = login_as("mgr1")
    assert client.get("/territories/import").status_code == 403
    response = client.post("/territories/import", data={"csrf_token": csrf_token(client, "/me")})
    assert response.status_code == 403


def test_the_import_command_dry_run_and_write(app, county, runner, tmp_path):
    path = tmp_path / "zones.geojson"
    path.write_bytes(collection(new_zone_features(), datum=None))
    before = count_territories(app)
    dry = runner.invoke(args=["import-territories", str(path), "--branch", "A1", "--datum", "wgs84", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "新甲村" in dry.output and count_territories(app) == before
    undeclared = runner.invoke(args=["import-territories", str(path), "--branch", "A1"])
    assert undeclared.exit_code != 0 and "请声明坐标系" in undeclared.output
    done = runner.invoke(args=["import-territories", str(path), "--branch", "A1", "--datum", "wgs84"])
    assert done.exit_code == 0, done.output
    assert count_territories(app) == before + 3


def test_customers_to_place_are_listed_for_the_team_lead(app, county, login_as):
    with app.app_context(), database.obj.connection_context():
        Customer.create(name="无坐标户", kind="household", branch=county.branches["A1"])
        Customer.create(name="界外户", kind="household", branch=county.branches["A1"], lat=28.95, lng=107.8)
        Customer.create(name="别行户", kind="household", branch=county.branches["A2"])
    client = login_as("lead1")
    names = [n.get_text() for n in soup(client.get("/territories/unplaced")).select(".row-main")]
    assert names == ["界外户", "无坐标户"]  # pinyin order (jie, wu), not by code point
