"""The upload readers (xlsx, csv, GeoJSON) against generated malformed files, in a subprocess
limited to 1 GB of address space: every file is read or refused with a message, none crashes
the process. `make test` runs a few dozen files; ZRT_FUZZ_FILES=3000 (and ZRT_FUZZ_SEED) by hand."""
import json
import os
import subprocess
import sys



def test_malformed_uploads_are_refused_and_the_reader_lives():
    count = int(os.environ.get("ZRT_FUZZ_FILES", "36"))
    seed = int(os.environ.get("ZRT_FUZZ_SEED", "15"))
    process = subprocess.run([sys.executable, "-m", "tests.fuzz_readers", str(count), str(seed), "1024"],
                             capture_output=True, text=True, timeout=60 + count,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert process.returncode == 0, process.stderr[-3000:]
    summary = json.loads(process.stdout.strip().splitlines()[-1])
    assert summary["crashes"] == []
    assert summary["files"] == count and summary["refused"] > count // 2
