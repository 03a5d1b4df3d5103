"""Benchmark: what the inbound bookkeeping costs at the depth of the use case (services/inbound.py).

    MYCPAAS_TEST_DATABASE_URL=postgresql://... .venv/bin/python bench/inbound_record.py [--messages 3000]

Records --messages lone inbound SMS (50 at once, through group commit) with the redelivery fingerprint on
(MYCPAAS_SMPP_MO_DEDUPE_SECONDS=300) and off (0), on SQLite and on PostgreSQL (when the URL is set), then times
the delivery worker's 5-second check for stale parts with 1,000 parts waiting that are not stale. Results are
appended to bench/results/inbound_record.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mycpaas.domain.carriage import InboundSms  # noqa: E402
from mycpaas.services import accounts, inbound, numbers  # noqa: E402
from mycpaas.services.platform import Platform  # noqa: E402
from mycpaas.settings import Settings  # noqa: E402
from tests.databases import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.platform_support import migrated_settings, run_on_platform  # noqa: E402

CONCURRENCY = 50


async def record_all(platform: Platform, number: str, count: int, tag: str) -> float:
    queue = list(range(count))

    async def one_worker() -> None:
        while queue:
            n = queue.pop()
            sms = InboundSms(
                "bench@127.0.0.1:2775",
                f"{tag}-{n}",
                f"+4477009{n:05d}",
                number,
                "hi",
                fingerprint=f"{tag}{n}",
            )
            await inbound.record_inbound(platform, sms)

    start = time.perf_counter()
    await asyncio.gather(*(one_worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - start)


def run(settings: Settings, count: int) -> list[str]:
    async def setup(platform: Platform) -> str:
        account = (await accounts.create_account(platform, "bench")).account
        return (await numbers.create_number(platform, account, {"PhoneNumber": "+15005550100"})).phone_number

    number = run_on_platform(settings, setup)
    lines = []
    for window in (300.0, 0.0, 300.0, 0.0):  # twice each, alternating: the first run also warms up
        tuned = dataclasses.replace(settings, smpp_mo_dedupe_seconds=window)
        rate = run_on_platform(
            tuned, lambda p, w=window: record_all(p, number, count, f"w{int(w)}-{len(lines)}-")
        )
        lines.append(f"  record_inbound, dedupe {'on ' if window else 'off'}: {rate:8.0f} messages/s")

    async def sweep(platform: Platform) -> float:
        for n in range(1000):
            part = InboundSms(
                "bench@127.0.0.1:2775",
                f"p-{n}",
                f"+4478009{n:05d}",
                number,
                "",
                part=(1, 2, 1),
                payload=b"x",
                coding=0,
            )
            await inbound.record_inbound(platform, part)
        start = time.perf_counter()
        for _ in range(20):
            assert await inbound.flush_stale_inbound_parts(platform, 1800) == 0
        return (time.perf_counter() - start) / 20 * 1000

    lines.append(f"  stale-parts check, 1,000 parts waiting: {run_on_platform(settings, sweep):.2f} ms")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    out = [f"# {time.strftime('%Y-%m-%d %H:%M:%S')} --messages {args.messages}, {CONCURRENCY} at once"]
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-inbound-"))
    out.append("SQLite:")
    out += run(migrated_settings(tmp), args.messages)
    if os.environ.get("MYCPAAS_TEST_DATABASE_URL"):
        url = create_postgres_database()
        try:
            out.append("PostgreSQL:")
            out += run(migrated_settings(tmp / "pg", url), args.messages)
        finally:
            drop_postgres_database(url)
    text = "\n".join(out)
    print(text)
    results = ROOT / "bench" / "results" / "inbound_record.txt"
    with results.open("a", encoding="utf-8") as f:
        f.write(text + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
