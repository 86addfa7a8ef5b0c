"""Detection's cost in instructions an event, which a busy machine does not blur as it
blurs seconds: the in-process handler over the e2e benchmark's traffic (heartbeats
included), counted by valgrind's cachegrind (``apt install valgrind``).

    .venv/bin/python -m bench.instructions [--shipments 3000] [--events FILE] [--without RULE]

The traffic is simulated once into a file (or ``--events``, to compare commits on the same
input: run each commit's copy with the same file). Two runs under cachegrind, one that
only reads the events and one that also judges them; the difference over the events is
the figure. ``--without RULE`` leaves a rule out (``ALL``: every rule; the legs and
deadlines the handler computes stay), which says what that rule costs.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def _judge(events: Path, without: str | None, loop: bool) -> None:
    """The child's work: read the events, and judge them when ``loop``."""
    import streams.engine as engine
    from schemas import StreamHeartbeat, load_registry, parse_record
    from streams import load_detection_config
    from streams.handler import DetectionHandler, DictStore, ListSink

    if without == "ALL":
        engine._ALL_RULES, engine._CONTEXT_RULES = (), ()
    elif without:
        engine._ALL_RULES = tuple(r for r in engine._ALL_RULES if r[0].value != without)
        engine._CONTEXT_RULES = tuple(r for r in engine._ALL_RULES if r[2])
    items = [parse_record(line) for line in events.read_bytes().splitlines()]
    handler = DetectionHandler(DictStore(), ListSink(), load_detection_config(), load_registry())
    if loop:
        for item in items:
            if isinstance(item, StreamHeartbeat):
                handler.tick(item.occurred_at)
            else:
                handler.handle(item)
    print(f"events={len(items)}")


def _instructions(events: Path, without: str | None, loop: bool) -> tuple[int, int]:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--child", "loop" if loop else "read",
        "--events", str(events), *(["--without", without] if without else []),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    count = re.search(r"events=(\d+)", done.stdout)
    if refs is None or count is None:
        raise SystemExit(f"cachegrind said:\n{done.stderr[-2000:]}")
    return int(refs[1].replace(",", "")), int(count[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--events", type=Path, help="JSON lines; default: simulated anew")
    parser.add_argument("--without", help="a rule to leave out, or ALL")
    parser.add_argument("--child", choices=["read", "loop"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _judge(args.events, args.without, args.child == "loop")
        return
    with tempfile.TemporaryDirectory(prefix="gf-instr-") as tmp:
        events = args.events
        if events is None:
            from bench.harness import simulated_traffic

            events = Path(tmp) / "events.jsonl"
            lines = [e.line for e in simulated_traffic(args.shipments, args.seed)]
            events.write_text("\n".join(lines) + "\n", encoding="utf-8")
        read, _ = _instructions(events, args.without, loop=False)
        judged, n = _instructions(events, args.without, loop=True)
    left_out = f" without {args.without}" if args.without else ""
    print(f"{(judged - read) // n:,} instructions an event{left_out} ({n:,} events)")


if __name__ == "__main__":
    main()
