"""The `frida` command: reports, comparisons, history and the benchmark, outside pytest.

frida report RUN          summary of a run, and its report.html rebuilt
frida compare A B         what changed from run A to run B (--fail capacity:10%,p99:20%)
frida history             capacity limits run after run
frida bench               the load generator against Kafka's own tools
frida repeat N -- ARGS    the same pytest suite N times: spread of its limits, and the
                          gate's false alarms between identical runs
frida images build        the Kafka, agent and monitoring images, without any registry
frida images push-to H..  copy them to Docker daemons that cannot pull (save | load)
frida images save DIR     write them as archives, for nodes fed from a frontend without
                          Docker (pytest --frida-images=DIR)
frida g5k jobs [--delete] this user's frida-* OAR jobs on this frontend's site (and
                          oardel them): what a run that died left reserved
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_frida.config import parse_producers
from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION

if TYPE_CHECKING:
    from pytest_frida.report.history import HistoryEntry

DEFAULT_REPORT_DIR = Path(".frida/reports")
#: the gate `frida repeat` applies between its runs: what a CI job would use
DEFAULT_GATE = "capacity:10%,p99:20%"


def _report(args: argparse.Namespace) -> int:
    from pytest_frida.measure.result import step_from_dict
    from pytest_frida.report.capacity import limits_by_test
    from pytest_frida.report.history import History
    from pytest_frida.report.load import find_run_dir
    from pytest_frida.report.model import run_info_from_dict
    from pytest_frida.report.sizing import run_sizing
    from pytest_frida.report.summary import format_table
    from pytest_frida.report.writer import ReportWriter

    run_dir = find_run_dir(args.run, args.report_dir)
    doc = json.loads((run_dir / "report.json").read_text())
    info = run_info_from_dict(doc)
    steps = [step_from_dict(s) for s in doc.get("steps", [])]
    print(
        f"run {info.run_id} ({info.status}) on {info.site}, Kafka {info.kafka_version},"
        f" client {info.client}, {info.started_at} - {info.finished_at or '?'}"
    )
    for line in format_table(steps):
        print(line)
    for limit in limits_by_test(steps):
        print(f"capacity limit of {limit.test}: {limit.describe()}")
        print(f"  {limit.explain()}")
    sizing = run_sizing(info, steps)
    for line in sizing.lines() if sizing else []:
        print(line)
    history = History(run_dir.parent).load() if (run_dir.parent / "history.jsonl").exists() else []
    writer = ReportWriter(run_dir)
    writer.write_html(info, steps, history, [])
    print(f"report: {writer.html_path}")
    return 0


def _entries(report_dir: Path, run_id: str) -> list[HistoryEntry]:
    from pytest_frida.report.history import History

    entries = [e for e in History(report_dir).load() if e.run_id == run_id]
    if not entries:
        raise LookupError(f"run {run_id!r} is not in {report_dir / 'history.jsonl'}")
    return entries


def _compare(args: argparse.Namespace) -> int:
    from pytest_frida.report.compare import compare, parse_thresholds
    from pytest_frida.report.history import History

    thresholds = parse_thresholds(args.fail) if args.fail else []
    base = {e.test: e for e in _entries(args.report_dir, args.a)}
    current = _entries(args.report_dir, args.b)
    history = History(args.report_dir).load()  # the run-to-run noise of like runs
    regressions = 0
    for entry in current:
        if entry.test not in base:
            print(f"{entry.test}: not in run {args.a}")
            continue
        for change in compare(entry, base[entry.test], thresholds, history):
            print(change.describe())
            regressions += change.failed
    if regressions:
        print(f"{regressions} regression(s) past {args.fail}")
        return 1
    return 0


def _history(args: argparse.Namespace) -> int:
    from pytest_frida.report.history import History

    entries = History(args.report_dir).load()
    if args.test:
        entries = [e for e in entries if args.test in e.test]
    if args.site:
        entries = [e for e in entries if e.site == args.site]
    if not entries:
        print(f"no runs recorded in {args.report_dir / 'history.jsonl'}")
        return 0
    for e in entries:
        print(
            f"{e.run_id}  {e.site:<8} {(e.commit or '-')[:10]:<10} {e.status:<11}"
            f" {e.test}  {e.limit.get('description', '')}"
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pytest_frida.bench.runner import BenchConfig, format_report, run_bench

    if args.monitor_cost:
        return _monitor_cost()
    if args.search_noise:
        from pytest_frida.bench.search_noise import search_noise_report

        for line in search_noise_report():
            print(line)
        return 0
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


def _monitor_cost() -> int:
    import shutil
    import tempfile

    from pytest_frida.bench.monitor_cost import format_cost, measure_monitor_cost
    from pytest_frida.config import build_settings
    from pytest_frida.sites.local import LocalSite

    work = Path(tempfile.mkdtemp(prefix="frida-bench-"))
    site = LocalSite(build_settings({}, {}).cluster, work)
    try:
        print("starting a local Kafka broker with its JMX exporter ...", file=sys.stderr)
        cost = measure_monitor_cost(site.start(), lambda s: print(s, file=sys.stderr))
    finally:
        site.stop()
        shutil.rmtree(work, ignore_errors=True)
    for line in format_cost(cost):
        print(line)
    return 0


def _repeat(args: argparse.Namespace) -> int:
    from pytest_frida.bench.repeat import run_repeats, spreads, write_summary
    from pytest_frida.report.compare import parse_thresholds
    from pytest_frida.report.history import History

    if args.count < 2:
        raise ValueError(f"N={args.count}: expected at least 2 repetitions")
    thresholds = parse_thresholds(args.gate)
    pytest_args = [a for a in args.pytest_args if a != "--"]
    run_ids = run_repeats(args.count, pytest_args, args.report_dir)
    results = spreads(History(args.report_dir).load(), run_ids, thresholds)
    print(f"== {len(run_ids)} runs of: pytest {' '.join(pytest_args)}")
    for result in results:
        for line in result.describe():
            print(line)
    if run_ids:
        out = args.report_dir / f"repeat-{run_ids[0]}.json"
        write_summary(out, run_ids, results, thresholds)
        print(f"figures written to {out}")
    return 0 if len(run_ids) == args.count else 1


def _images_build(args: argparse.Namespace) -> int:
    from pytest_frida.images.build import ImageBuilder
    from pytest_frida.kafka.distribution import resolve
    from pytest_frida.runtimes.docker_cli import DockerCli

    builder = ImageBuilder(DockerCli(args.docker_host), progress=print)
    builder.docker.ping()
    every = ["base", "kafka", "agent", "monitoring"]
    wanted = args.only.split(",") if args.only else every
    unknown = sorted(set(wanted) - set(every))
    if unknown:
        raise ValueError(f"--only {','.join(unknown)}: expected some of {','.join(every)}")
    built = []
    if "base" in wanted:
        built.append(builder.base(force=args.force))
    if "kafka" in wanted:
        built.append(builder.kafka(resolve(args.kafka_version, args.kafka_home), args.force))
    if "agent" in wanted:
        built.append(builder.agent(force=args.force))
    if "monitoring" in wanted:
        built.append(builder.monitoring(force=args.force))
    print("images: " + ", ".join(built))
    return 0


def _images_push(args: argparse.Namespace) -> int:
    from pytest_frida.images import AGENT_IMAGE, kafka_image
    from pytest_frida.images.transfer import push_images
    from pytest_frida.runtimes.docker_cli import DockerCli

    images = args.image or [kafka_image(args.kafka_version), AGENT_IMAGE]
    push_images(images, args.hosts, DockerCli(args.docker_host), progress=print)
    return 0


def _images_save(args: argparse.Namespace) -> int:
    from pytest_frida.images import AGENT_IMAGE, kafka_image
    from pytest_frida.images.transfer import save_images
    from pytest_frida.runtimes.docker_cli import DockerCli

    images = args.image or [kafka_image(args.kafka_version), AGENT_IMAGE]
    written = save_images(images, DockerCli(args.docker_host), args.directory, progress=print)
    print("archives: " + ", ".join(str(p) for p in written))
    return 0


def _job_prefix(value: str) -> str:
    """A prefix of at least 3 characters: an empty one would match every job of yours."""
    if len(value.strip()) < 3:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give at least 3 characters of the job names (default frida-)"
        )
    return value


def _g5k_jobs(args: argparse.Namespace) -> int:
    import time

    from pytest_frida.sites import job_marks
    from pytest_frida.sites.g5k_jobs import delete_jobs, frida_jobs

    if args.force and not args.delete:
        print(
            "frida: g5k jobs --force only goes with --delete (it deletes held jobs too)",
            file=sys.stderr,
        )
        return 2
    jobs = frida_jobs(args.prefix)
    if not jobs:
        print(f"no waiting or running OAR job named {args.prefix}*")
        return 0
    now = time.time()
    held = {j.job_id: job_marks.holder(j.job_id) for j in jobs}
    for job in jobs:
        holder = held[job.job_id]
        print(job.describe(now) + (f"  [held by a live run: {holder}]" if holder else ""))
    if args.delete:
        delete_jobs(jobs, print, force=args.force)
    else:
        kept = sum(1 for h in held.values() if h is not None)
        print(
            f"{len(jobs)} job(s); `frida g5k jobs --delete` deletes them"
            + (f" except the {kept} held by a live run (--force: those too)" if kept else "")
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="frida", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=DEFAULT_REPORT_DIR,
        help="where pytest-frida wrote its reports (default .frida/reports)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="summarise a run and rebuild its report.html")
    report.add_argument("run", help="run id, run directory or report.json")
    report.set_defaults(func=_report)
    comp = sub.add_parser("compare", help="compare run B with baseline run A")
    comp.add_argument("a")
    comp.add_argument("b")
    comp.add_argument("--fail", help="exit 1 past these thresholds, e.g. capacity:10%%,p99:20%%")
    comp.set_defaults(func=_compare)
    hist = sub.add_parser("history", help="capacity limits run after run")
    hist.add_argument("--test", help="only tests whose id contains this")
    hist.add_argument("--site", help="only this site")
    hist.set_defaults(func=_history)
    bench = sub.add_parser("bench", help="measure the load generator against Kafka's own tools")
    bench.add_argument(
        "--client", default="confluent-kafka", choices=("confluent-kafka", "kafka-python")
    )
    bench.add_argument("--out", type=Path, default=Path(".frida/bench.json"))
    bench.add_argument("--density", help="producer counts to try, e.g. 250,500,1000")
    bench.add_argument("--quick", action="store_true", help="a short smoke run")
    bench.add_argument(
        "--monitor-cost",
        action="store_true",
        help="only what reading the broker's figures once a second costs",
    )
    bench.add_argument(
        "--search-noise",
        action="store_true",
        help="only how far step noise alone moves a search's limit (simulated, no broker)",
    )
    bench.set_defaults(func=_bench)
    repeat = sub.add_parser(
        "repeat",
        help="run a pytest suite N times: spread of its limits and the gate's false alarms",
    )
    repeat.add_argument("count", type=int, metavar="N")
    repeat.add_argument(
        "--gate",
        default=DEFAULT_GATE,
        help=f"thresholds applied to every pair of runs (default {DEFAULT_GATE})".replace(
            "%", "%%"
        ),
    )
    repeat.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="-- then the pytest arguments, e.g. -- examples/capacity",
    )
    repeat.set_defaults(func=_repeat)
    images = sub.add_parser("images", help="build frida's images, copy them to nodes")
    images_sub = images.add_subparsers(dest="images_command", required=True)
    build = images_sub.add_parser(
        "build", help="build frida/base, frida/kafka, frida/agent, frida/monitoring"
    )
    push = images_sub.add_parser("push-to", help="docker save | docker load onto HOSTS")
    save = images_sub.add_parser(
        "save", help="docker save the images into DIR (for --frida-images=DIR)"
    )
    for p in (build, push, save):
        p.add_argument("--kafka-version", default=DEFAULT_KAFKA_VERSION)
        p.add_argument(
            "--docker-host",
            help="the daemon to build on / copy from (default: DOCKER_HOST or the local one)",
        )
    build.add_argument("--kafka-home", type=Path, help="an unpacked Kafka instead of Maven")
    build.add_argument("--only", help="some of base,kafka,agent,monitoring")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=_images_build)
    push.add_argument(
        "hosts",
        nargs="+",
        help="node names (ssh://NAME, your ssh config's user) or docker -H addresses",
    )
    push.add_argument(
        "--image",
        action="append",
        help="an image to copy (repeatable; default: the Kafka and agent images)",
    )
    push.set_defaults(func=_images_push)
    save.add_argument("directory", type=Path, help="where to write the archives")
    save.add_argument(
        "--image",
        action="append",
        help="an image to save (repeatable; default: the Kafka and agent images)",
    )
    save.set_defaults(func=_images_save)
    g5k = sub.add_parser("g5k", help="Grid'5000: this user's frida jobs on the site")
    g5k_sub = g5k.add_subparsers(dest="g5k_command", required=True)
    jobs = g5k_sub.add_parser(
        "jobs", help="list (and --delete) waiting and running OAR jobs named frida-*"
    )
    jobs.add_argument(
        "--delete",
        action="store_true",
        help="oardel them, except those a run still going on this machine holds",
    )
    jobs.add_argument("--force", action="store_true", help="with --delete: those too")
    jobs.add_argument(
        "--prefix",
        default="frida-",
        type=_job_prefix,
        help="job names to match (default frida-; a --frida-job-name of your own)",
    )
    jobs.set_defaults(func=_g5k_jobs)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a one-line error, not a traceback, for the command line
        print(f"frida {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
