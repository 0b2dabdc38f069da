"""The import commands pick their branch the same way: --branch CODE, or the only bank."""
import pytest

from tests.test_imports import csv_bytes, make_id
from tests.test_territory_import import collection, new_zone_features

COMMANDS = ["import-territories", "import-customers"]


def input_file(command, tmp_path):
    if command == "import-territories":
        path = tmp_path / "zones.geojson"
        path.write_bytes(collection(new_zone_features()))
    else:
        path = tmp_path / "建档.csv"
        path.write_bytes(csv_bytes([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]]))
    return str(path)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_branch_code_that_names_no_branch_is_refused(app, runner, tmp_path, command):
    # An empty database: no branch at all, so the code cannot name one.
    result = runner.invoke(args=[command, input_file(command, tmp_path), "--branch", "A1", "--dry-run"])
    assert result.exit_code != 0
    assert "No branch with code A1" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_without_branch_and_no_bank_the_command_asks_for_one(app, runner, tmp_path, command):
    result = runner.invoke(args=[command, input_file(command, tmp_path), "--dry-run"])
    assert result.exit_code != 0
    assert "Give --branch CODE" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_two_banks_need_a_branch_code_but_a_known_code_works(app, county, runner, tmp_path, command):
    path = input_file(command, tmp_path)
    unsure = runner.invoke(args=[command, path, "--dry-run"])
    assert unsure.exit_code != 0 and "Give --branch CODE" in unsure.output
    unknown = runner.invoke(args=[command, path, "--branch", "ZZ9", "--dry-run"])
    assert unknown.exit_code != 0 and "No branch with code ZZ9" in unknown.output
    known = runner.invoke(args=[command, path, "--branch", "A1", "--dry-run"])
    assert known.exit_code == 0, known.output
