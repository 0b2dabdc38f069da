"""The app as gunicorn serves it for bench_sustained: `gunicorn tests.bench.serve_app:app`,
on the database named by ZRT_BENCH_DATABASE_URL (a copy of the field-loop fixture)."""
import os

from tests.conftest import make_app

app = make_app(os.environ["ZRT_BENCH_DATABASE_URL"])
