"""Real Huey consumers (`flask worker` processes) for the job tests, on the test's database.

Each consumer is its own process group (started here, stopped here by its id); it reads the
test's settings from a config file named by ZRT_CONFIG and starts its business clock where
the test's clock stands (ZRT_CLOCK_AT), or where the test says.
"""
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app import clock

ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition, timeout=20, every=0.05, what="the condition"):
    """Poll condition() until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class Consumers:
    def __init__(self, folder, config):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_file = self.folder / "worker_config.py"
        self.config_file.write_text("".join(f"{k} = {v!r}\n" for k, v in config.items()))
        self.started = []

    def start(self, *args, at=None, name=None):
        """Start `flask worker *args`; its clock starts at `at` (default: the test's clock now;
        False: the wall clock)."""
        env = dict(os.environ, FLASK_APP="app", ZRT_CONFIG=str(self.config_file), PYTHONUNBUFFERED="1")
        env.pop("ZRT_CLOCK_AT", None)
        if at is not False:
            moment = at or clock.now()
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            env["ZRT_CLOCK_AT"] = moment.isoformat()
        name = name or f"worker{len(self.started) + 1}"
        env.pop("DATABASE_URL", None)
        env.pop("HUEY_URL", None)
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "flask", "worker", *args], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log_path, process.log_file = self.folder / f"{name}.log", log
        self.started.append(process)
        return process

    def log(self, process):
        return process.log_path.read_text(errors="replace")

    def stop(self, process):
        """SIGTERM (Huey's immediate stop: the test is over), then SIGKILL to its own process group
        once the consumer says it is exiting, or if it lingers: what follows is the interpreter's
        clean-up, a garbage collection of the whole app that took seconds and tells the test nothing."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while (process.poll() is None and time.monotonic() < deadline
                   and "Consumer exiting." not in self.log(process)):
                time.sleep(0.02)
            try:
                os.killpg(process.pid, signal.SIGKILL)  # its worker children too, if any outlived it
            except ProcessLookupError:
                pass
            process.wait(5)
        else:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # its worker children, if any outlived it
            except ProcessLookupError:
                pass
        process.log_file.close()

    def stop_all(self):
        for process in self.started:
            self.stop(process)
        self.started = []
