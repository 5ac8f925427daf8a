"""What one `find_tokens()` costs over ten large Chromium profiles (issue 9).

Goals: <= 1 s and <= 50 MB of extra RSS for one scan over 10 profiles, each with a ~50 MB localStorage
LevelDB. The databases are written by tests/leveldb_writer.py: ~25 snappy tables of ~2 MB from many
other origins (host names spread over the alphabet, so every table's key range includes chat.qwen.ai
and none can be skipped from the MANIFEST alone), the token written three times (older values stay in
older tables, the newest in a table in the middle), and a ~4 MB write-ahead log of later writes on top.

Each measured scan runs in a fresh Python process: time of the call, and VmHWM - VmRSS around it (the
peak is reset through /proc/self/clear_refs first). "warm": the files are in the page cache; "cold":
each file is dropped from the page cache first (posix_fadvise DONTNEED on our own files only).

Run: .venv/bin/python benchmarks/browser_import.py [runs]      (Linux; ~600 MB in a temp folder)
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _args import positional

from tests import leveldb_writer as lw
from tests.test_token import make_token
from tray_app.browsers._common import crc32c
from tray_app.browsers.chromium import TOKEN_KEY

GOAL_SECONDS = 1.0
GOAL_EXTRA_MB = 50.0
PROFILES = [  # (data folder under ~/.config, profile folder)
    ("google-chrome", "Default"),
    ("google-chrome", "Profile 1"),
    ("google-chrome", "Profile 2"),
    ("google-chrome", "Profile 3"),
    ("chromium", "Default"),
    ("chromium", "Profile 1"),
    ("BraveSoftware/Brave-Browser", "Default"),
    ("BraveSoftware/Brave-Browser", "Profile 1"),
    ("microsoft-edge", "Default"),
    ("vivaldi", "Default"),
]
TABLES = 25
TABLE_BYTES = 3_200_000  # of values, before snappy: ~1.85 MB on disk
LOG_BYTES = 4 * 1024 * 1024
VALUE_BYTES = 1000
#: Half of each value is noise, half repeats (as JSON does): snappy roughly halves a block, so LevelDB
#: keeps it compressed and the reader has to decompress it.
REPEATED = b'{"k":"v",' * 56
TOKEN_ROUNDS = {3: 0, 8: 1, 12: 2}  # round → which token version is written then (2 = the newest)

MEASURE = r"""
import json, sys, time
from pathlib import Path

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no " + field)

from tray_app.browsers import find_tokens
from tray_app.browsers.chromium import TOKEN_KEY
from tray_app.browsers.leveldb import read_latest

home = Path(sys.argv[1])
Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
before = status("VmRSS")
start = time.perf_counter()
scan = find_tokens(platform="linux", home=home, env={})
seconds = time.perf_counter() - start
peak = status("VmHWM")
per_profile = [read_latest(Path(p), TOKEN_KEY).bytes_read for p in sys.argv[2:]]
print(json.dumps({
    "seconds": seconds, "extra": peak - before, "rss_before": before,
    "candidates": len(scan.candidates), "skipped": scan.skipped, "bytes_read": per_profile,
    "expires": sorted({c.claims.expires_at for c in scan.candidates if c.claims}),
}))
"""


def write_profile(folder: Path, tokens: list[str], seed: int) -> int:
    """One ~50 MB localStorage LevelDB; returns its size in bytes."""
    rng = random.Random(seed)  # noqa: S311 - filler data, not a secret
    db = lw.Database(folder, crc=crc32c)
    per_batch = 20

    def write_bytes(total: int) -> None:
        written = 0
        while written < total:
            batch = []
            for _ in range(per_batch):
                host = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))
                key = f"_https://{host}.example\x00\x01item{rng.randrange(100)}".encode()
                batch.append((key, b"\x01" + rng.randbytes(VALUE_BYTES - len(REPEATED)) + REPEATED))
            db.write(batch)
            written += per_batch * (VALUE_BYTES + 40)

    for round_number in range(TABLES):
        write_bytes(TABLE_BYTES // 2)
        if round_number in TOKEN_ROUNDS:
            db.put(TOKEN_KEY, b"\x01" + tokens[TOKEN_ROUNDS[round_number]].encode())
        write_bytes(TABLE_BYTES // 2)
        db.flush()
    write_bytes(LOG_BYTES)  # later writes, still in the log
    db.close()
    return sum(path.stat().st_size for path in folder.iterdir())


def drop_from_page_cache(folders: list[Path]) -> None:
    for folder in folders:
        for path in folder.iterdir():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def measure(home: Path, folders: list[Path]) -> dict[str, object]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    argv = [sys.executable, "-c", MEASURE, str(home), *map(str, folders)]
    output = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(output)
    return result


def main() -> int:
    runs = positional(__doc__, 1, 5, int)
    with tempfile.TemporaryDirectory(prefix="qwen-bench-browsers-") as workdir:
        home = Path(workdir)
        started = time.perf_counter()
        folders = []
        sizes = []
        for index, (data_folder, profile) in enumerate(PROFILES):
            tokens = [make_token(user_id=f"user-{index}", exp=1_900_000_000 + index * 10 + age) for age in range(3)]
            folder = home / ".config" / data_folder / profile / "Local Storage" / "leveldb"
            sizes.append(write_profile(folder, tokens, seed=index))
            folders.append(folder)
        print(
            f"wrote {len(folders)} profiles, {min(sizes) / 1e6:.1f}-{max(sizes) / 1e6:.1f} MB each "
            f"({sum(sizes) / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s"
        )
        results: dict[str, list[dict[str, object]]] = {"warm": [], "cold": []}
        measure(home, folders)  # first touch: imports compiled, files cached
        for _ in range(runs):
            results["warm"].append(measure(home, folders))
            drop_from_page_cache(folders)
            results["cold"].append(measure(home, folders))
        first = results["warm"][0]
        newest = [1_900_000_000 + index * 10 + 2 for index in range(len(PROFILES))]
        read = first["bytes_read"]
        if first["skipped"] or first["expires"] != newest or not isinstance(read, list):
            print(f"wrong answer: every profile must give its newest token and skip nothing: {first}")
            return 1
        print(
            f"bytes read per profile: {statistics.median(read) / 1e6:.2f} MB median "
            f"({max(read) / 1e6:.2f} MB max) of ~{statistics.median(sizes) / 1e6:.0f} MB"
        )
        for kind, rows in results.items():
            seconds = statistics.median(float(str(row["seconds"])) for row in rows)
            extra = statistics.median(float(str(row["extra"])) for row in rows) / 1e6
            worst = max(float(str(row["seconds"])) for row in rows)
            print(
                f"{kind}: {seconds:.3f} s median (worst {worst:.3f} s) = {seconds / GOAL_SECONDS:.2f} of the "
                f"{GOAL_SECONDS:g} s goal; extra RSS {extra:.1f} MB = {extra / GOAL_EXTRA_MB:.2f} of the "
                f"{GOAL_EXTRA_MB:g} MB goal"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
