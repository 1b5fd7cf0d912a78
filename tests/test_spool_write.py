"""The run's temporary files on a disk that refuses a write, for real: a Python process whose files may not
grow past a limit (``RLIMIT_FSIZE``, SIGXFSZ ignored: a write beyond fails with EFBIG, the way a full disk
fails with ENOSPC) fills a value column and a record store past it. The value column keeps what it could
not write in memory and its statistics stay exact; the record store refuses the batch whole (the error
names its file), keeps every batch before it readable and its lines whole."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

LIMIT = 1_100_000
"""Bytes a file of the child may hold: two spills of a value column (2 x 512 KiB) fit, the third does not."""

CHILD = r'''
import json, math, random, resource, signal, sys

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))

from inferload.record_store import RecordStore
from inferload.records import RequestRecord
from inferload.stats import compute_stats
from inferload.value_column import ValueColumn

spool = sys.argv[1]
rng = random.Random(7)
values = [rng.lognormvariate(3, 1) for _ in range(400_000)]
values[::997] = [math.nan] * len(values[::997])
column = ValueColumn(spool)
for start in range(0, len(values), 999):
    column.extend(values[start:start + 999])
out = {"column_error": repr(column.write_error), "column_file": getattr(column.write_error, "filename", None),
       "stats": column.stats(), "expected": compute_stats(values), "count": len(column)}

store = RecordStore(spool_dir=spool)
def record(i):
    return RequestRecord(request_id=i, phase="profiling", worker_id="w0", conversation_id=f"c{i}",
                         x_request_id=f"x{i}", scheduled_ns=i, start_ns=i, end_ns=i + 5, start_wall_ns=i,
                         input_tokens=8, chunk_ns=[i + 1, i + 2, i + 3])
error = None
for batch in range(100_000):
    records = [record(batch * 64 + j) for j in range(64)]
    lines = b"".join(json.dumps({"id": r.request_id, "pad": "x" * 200}).encode() + b"\n" for r in records)
    try:
        store.append(records, lines=lines)
    except OSError as exc:
        error = exc
        break
ids = [r.request_id for r in store]
copied = __import__("io").BytesIO()
store.copy_lines(copied)
lines = [json.loads(line)["id"] for line in copied.getvalue().splitlines()]
out.update(store_error=repr(error), store_file=getattr(error, "filename", None), stored=len(store),
           ids_in_order=ids == list(range(len(store))), lines_in_order=lines == ids, unstored=store.unstored)
print(json.dumps(out))
'''


def same_stats(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Equal key for key (NaN equal to NaN)."""
    return left.keys() == right.keys() and all(
        a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
        for a, b in ((left[k], right[k]) for k in left))


def test_spools_on_a_disk_that_refuses_a_write_stay_whole_exact_and_name_the_file(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(LIMIT)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # the value column: the third spill refused, its values kept in memory, the statistics still exact
    assert out["column_error"].startswith("SpoolWriteError(27, 'File too large')")
    assert out["column_file"] == f"a metric's value column (inferload-values-) in {tmp_path}"
    assert out["count"] == 400_000
    assert same_stats(out["stats"], out["expected"])
    # the record store: the batch that did not fit refused whole, named; everything before it readable
    assert out["store_error"].startswith("SpoolWriteError(27, 'File too large')")
    assert out["store_file"] == f"the record store's temporary file (inferload-lines-) in {tmp_path}"
    assert out["stored"] > 0 and out["stored"] % 64 == 0 and out["unstored"] == 64
    assert out["ids_in_order"] and out["lines_in_order"]
