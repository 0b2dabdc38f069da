"""The bare floor as bench_sustained serves it: `gunicorn tests.bench.serve_floor:app`.

../shared/bench-floor/floor_app.py unchanged, but on the private copy of its
database named by ZRT_BENCH_FLOOR_DB: other sessions load /tmp/floor/f.db at the
same time, and their writes would queue behind ours (and ours behind theirs).
"""
import importlib.util
import os
import sys

FLOOR = "/work/shared/bench-floor/floor_app.py"


def load_floor(path):
    """The floor's module, its database pointed at path (same pragmas, same code)."""
    spec = importlib.util.spec_from_file_location("floor_app", FLOOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules["floor_app"] = module
    spec.loader.exec_module(module)
    module.db.init(path)  # keeps the pragmas the floor declares; only the file changes
    return module


app = load_floor(os.environ["ZRT_BENCH_FLOOR_DB"]).app if "ZRT_BENCH_FLOOR_DB" in os.environ else None
