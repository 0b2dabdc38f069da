"""The app as gunicorn serves it for bench_sustained: `gunicorn tests.bench.serve_app:app`,
on the database named by ZRT_BENCH_DATABASE_URL (a copy of the field-loop fixture), its
business clock pinned by ZRT_CLOCK_AT (read by app/clock.py at import; tests/bench/_clock.py)."""
import os

from tests.conftest import make_app

app = make_app(os.environ["ZRT_BENCH_DATABASE_URL"])
