"""The `frida` command: what pytest-frida does outside a pytest session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_frida.config import parse_producers


def _bench(args: argparse.Namespace) -> int:
    from pytest_frida.bench.runner import BenchConfig, format_report, run_bench

    cfg = BenchConfig(client=args.client, out=args.out)
    if args.quick:  # a smoke run: every code path, small numbers
        cfg.throughput_seconds, cfg.perf_records = 2.0, 200_000
        cfg.latency_seconds, cfg.e2e_records = 3.0, 200
        cfg.density_counts, cfg.density_seconds, cfg.density_warmup = (20, 50), 3.0, 1.0
    if args.density:
        cfg.density_counts = parse_producers(args.density, "--density")
    report = run_bench(cfg)
    for line in format_report(report):
        print(line)
    print(f"figures written to {cfg.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="frida", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="measure the load generator against Kafka's own tools")
    bench.add_argument("--client", default="confluent-kafka",
                       choices=("confluent-kafka", "kafka-python"))
    bench.add_argument("--out", type=Path, default=Path(".frida/bench.json"))
    bench.add_argument("--density", help="producer counts to try, e.g. 250,500,1000")
    bench.add_argument("--quick", action="store_true", help="a short smoke run")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a one-line error, not a traceback, for the command line
        print(f"frida {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
