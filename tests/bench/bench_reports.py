"""Weekly PDF reports on the demo county (issue 19): one territory's report, the bank summary,
and every village, street, market and zone of a week on two job workers.

Budgets (issue 19): one territory report median ≤ 3 s; the ~75 reports with 2 workers ≤ 180 s;
the bank summary ≤ 10 s. Each report is made with force=True (no skipping) after one warm-up
that prepares the font subset and takes the closed week's snapshot.
"""
import statistics
import time

from app import reporting
from app.db import database
from app.models import Branch, Customer, Job, Territory
from tests.bench._timing import DemoCounty
from tests.conftest import TEST_ID_NUMBER_KEY, make_app
from tests.county import HASH
from tests.workers import Consumers, wait_for

WEEK, WORKERS_WEEK = "2026-W47", "2026-W46"
_county = DemoCounty("zrt-bench-reports-", 6000)


def teardown():
    _county.teardown()


def _timed(kind, subject_id, n):
    times, pages = [], 0
    for _ in range(n):
        start = time.perf_counter()
        made = reporting.make(kind, subject_id, WEEK, force=True)
        times.append(time.perf_counter() - start)
        pages = made["pages"]
    return times, pages


def one_report_and_summary():
    app = _county.build()
    app.config["REPORTS_DIR"] = f"{_county.folder}/reports"
    with app.app_context(), database.obj.connection_context():
        bank = Branch.get(Branch.kind == "bank")
        sizes = {t.id: Customer.select().where(Customer.territory == t.id).count()
                 for t in Territory.select().where(Territory.kind.in_(("village", "street")))}
        biggest = Territory.get_by_id(max(sizes, key=sizes.get))
        reporting.make("territory", biggest.id, WEEK)  # warm-up: fonts prepared, week closed
        territory_times, pages = _timed("territory", biggest.id, 5)
        bank_times, bank_pages = _timed("bank", bank.id, 3)
        app.config["REPORT_FONTS"] = False
        full_times, _ = _timed("territory", biggest.id, 3)
        app.config["REPORT_FONTS"] = True
    median = statistics.median(territory_times)
    return [
        {"name": "one territory report (notebook + PDF)", "unit": "s", "samples": territory_times, "budget": 3,
         "budget_stat": "median",
         "note": f"{biggest.name}, {sizes[biggest.id]} customers, {pages} pages ({pages / median:.1f} pages/s); "
                 f"the same report with fontconfig's whole Noto Sans CJK instead of the prepared GB 2312 subset: "
                 f"median {statistics.median(full_times):.2f} s."},
        {"name": "bank summary (notebook + PDF)", "unit": "s", "samples": bank_times, "budget": 10,
         "budget_stat": "median", "note": f"{bank_pages} pages, 6,000 customers, every branch and zone."},
    ]


def a_week_on_two_workers():
    app = _county.build()
    folder = _county.folder
    setting = {"DATABASE_URL": f"sqlite:///{folder}/zerentian.db", "HUEY_URL": f"sqlite:///{folder}/huey.db",
               "SECRET_KEY": "test", "ID_NUMBER_KEY": TEST_ID_NUMBER_KEY, "PASSWORD_HASH_METHOD": HASH,
               "HUEY_IMMEDIATE": False, "REPORTS_DIR": f"{folder}/reports"}
    queuing = make_app(setting["DATABASE_URL"], **{k: v for k, v in setting.items() if k != "DATABASE_URL"})
    workers = Consumers(f"{folder}/workers", setting)
    try:
        with queuing.app_context(), database.obj.connection_context():
            bank = Branch.get(Branch.kind == "bank")
            workers.start("--workers", "2", "--no-periodic")
            time.sleep(3)  # the consumer's start-up is not the reports' time
            start = time.perf_counter()
            jobs = reporting.queue_week(bank, WORKERS_WEEK)
            ids = [j.id for j in jobs]
            wait_for(lambda: Job.select().where(Job.id.in_(ids), Job.state.in_(("done", "failed"))).count() == len(ids),
                     timeout=900, every=0.5, what="the week's reports")
            took = time.perf_counter() - start
            failed = Job.select().where(Job.id.in_(ids), Job.state == "failed").count()
    finally:
        workers.stop_all()
        app.config["HUEY_IMMEDIATE"] = True
    return {"name": f"a week's reports ({len(ids)}) on 2 workers", "unit": "s", "samples": [took], "budget": 180,
            "note": f"every village, street, market and zone and the bank summary of {WORKERS_WEEK}, queued as jobs "
                    f"and made by one `flask worker --workers 2`; {failed} failed."}


BENCHMARKS = [one_report_and_summary, a_week_on_two_workers]


if __name__ == "__main__":  # python -m tests.bench.bench_reports: print without recording
    try:
        for bench in BENCHMARKS:
            rows = bench()
            for row in rows if isinstance(rows, list) else [rows]:
                print(f"{row['name']}: median {statistics.median(row['samples']):.2f} {row['unit']} — {row['note']}")
    finally:
        teardown()
