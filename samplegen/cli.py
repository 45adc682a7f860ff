"""``samplegen``: run the pipeline or one stage from the command line.

Examples::

    samplegen run --conf conf/local.yaml
    samplegen run --conf conf/local.yaml --run-id nightly-2026-11-28 --set train.epochs=5
    samplegen run --conf conf/local.yaml --run-id nightly-2026-11-28   # resumes a failed run
    samplegen evaluate --conf conf/local.yaml --run-id nightly-2026-11-28 --force
    samplegen compare --conf conf/local.yaml nightly-2026-11-27 nightly-2026-11-28
    samplegen runs --conf conf/local.yaml
    samplegen profile --conf conf/local.yaml
    samplegen simulate --events 10000000 --out /data/sim --format parquet
    samplegen tune --conf conf/local.yaml --run-id nightly-2026-11-28 --budget 20 --name cold
    samplegen run --conf conf/local.yaml --recipe recipes/cold.yaml
"""

from __future__ import annotations

import argparse
import sys
from importlib.util import find_spec

from samplegen.compat import check_supported
from samplegen.config import Config, ConfigError, config_reference, load_config
from samplegen.ids import IdentifierError, check_identifier, path_under
from samplegen.redact import mask_override, mask_text, remember_secrets
from samplegen.registry import strategy_table
from samplegen.runinfo import LOG, configure_logging, list_runs, new_run_id, result_lines

STAGE_COMMANDS = ("aggregate", "train", "generate", "evaluate")
NEEDS_RUN_ID = ("generate", "evaluate", "tune")
#: Exit code of a run refused because another aggregate holds the lakehouse (EX_TEMPFAIL).
EXIT_BUSY = 75
#: Commands that print something without Spark: they run on any interpreter.
NEEDS_NO_SPARK = ("config-reference", "strategies", "runs")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by ``jobs/``)."""
    parser = argparse.ArgumentParser(
        prog="samplegen",
        description="Synthetic training samples for sparse e-commerce data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_help = {"run": "the whole pipeline: aggregate, train, generate, evaluate"}
    run_help |= {name: f"only the {name} stage" for name in STAGE_COMMANDS}
    for name, text in run_help.items():
        example = f"example:\n  samplegen {name} --conf conf/local.yaml --run-id my-run"
        sub = commands.add_parser(
            name,
            help=text,
            description=text + ". Stages this run already finished are skipped (see --force).",
            epilog=example,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_config_arguments(sub)
        sub.add_argument("--run-id", help="run id (default: a new timestamped id)")
        sub.add_argument("--force", action="store_true", help="redo stages already finished")
        sub.add_argument(
            "--recipe",
            metavar="PATH",
            help="a recipe of `samplegen tune` (recipes/<name>.yaml) laid over --conf; "
            "--set still wins; an empty value means none (for schedulers)",
        )
    _add_tune_parser(commands)
    reports = {
        "runs": "list runs with their stages and verdicts",
        "profile": "print the data profile written by the last aggregate",
    }
    for name, text in reports.items():
        sub = commands.add_parser(
            name,
            help=text,
            epilog=f"example:\n  samplegen {name} --conf conf/local.yaml",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_config_arguments(sub)
    compare = commands.add_parser(
        "compare",
        help="print the differences between two evaluated runs' metrics (B - A)",
        description="Match two runs' eval_metrics rows and print A, B and B - A: by default "
        "the paired NDCG differences at the headline K, CTR classifiers' paired AUC and log "
        "loss differences, fidelity and privacy.",
        epilog="example:\n  samplegen compare --conf conf/local.yaml run-a run-b --all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_arguments(compare)
    compare.add_argument("run_a", help="the baseline run")
    compare.add_argument("run_b", help="the run compared against it")
    compare.add_argument(
        "--all", action="store_true", help="every shared row at every K, not only the headline"
    )
    compare.add_argument("--csv", metavar="PATH", help="also write the rows shown to this CSV file")
    simulate = commands.add_parser(
        "simulate",
        help="write a simulated e-commerce event log and catalogue (Spark, seeded)",
        description="Write <out>/events and <out>/catalogue; read them back with "
        "data.source=files.",
        epilog="example:\n  samplegen simulate --events 10000000 --out /data/sim\n"
        "  samplegen run --conf conf/local.yaml --set data.source=files \\\n"
        "      --set data.events_path=/data/sim/events --set data.events_format=parquet \\\n"
        "      --set data.catalogue_path=/data/sim/catalogue --set data.catalogue_format=parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_arguments(simulate, conf_required=False)
    simulate.add_argument("--out", required=True, help="output folder (local path or URI)")
    simulate.add_argument("--events", type=int, default=1_000_000, help="target event count")
    simulate.add_argument("--items", type=int, default=20_000, help="catalogue size")
    simulate.add_argument("--categories", type=int, default=30, help="number of categories")
    simulate.add_argument("--seed", type=int, default=7, help="seed; same seed, same rows")
    simulate.add_argument("--format", choices=("parquet", "delta"), default="parquet")
    commands.add_parser(
        "fetch-jars", help="download the Delta jars for the installed Spark with Maven (once)"
    )
    commands.add_parser(
        "config-reference", help="print every config key with its default, as Markdown"
    )
    commands.add_parser(
        "strategies", help="list every generate.strategy: models it takes, table it writes"
    )
    return parser


def _add_tune_parser(commands: argparse._SubParsersAction) -> None:
    """``samplegen tune``: its flags are the ``tune.*`` keys, checked as config."""
    text = "search generation recipes for a trained run on the valid split (needs samplegen[tune])"
    sub = commands.add_parser(
        "tune",
        help=text,
        description=text + ". Each trial generates with the run's trained models and fits "
        "tune.target on train + synthetic rows, scored on valid only; every trial is a "
        "tuning_trials row and the best becomes recipes/<name>.yaml.",
        epilog="example:\n  samplegen tune --conf conf/local.yaml --run-id my-run "
        "--target ease --slice cold --budget 20 --name cold-ease",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_arguments(sub)
    sub.add_argument("--run-id", help="the trained run whose models the trials draw from")
    sub.add_argument("--target", help="tune.target: the recommender whose NDCG is maximised")
    sub.add_argument("--slice", help="tune.slice: the slice the objective is computed on")
    sub.add_argument("--budget", type=int, help="tune.budget: the number of trials")
    sub.add_argument("--name", help="recipe name: recipes/<name>.yaml (default: the run id)")
    sub.add_argument(
        "--then-run",
        metavar="RUN_ID",
        help="then generate the recipe once under RUN_ID (from the tuned run's models) and "
        "score it on test as an ordinary run (skipped when the search recommends not augmenting)",
    )
    sub.add_argument(
        "--force-test",
        action="store_true",
        help="with --then-run: score the recipe on test even when the search recommends not "
        "augmenting",
    )


def _tune_overrides(args: argparse.Namespace) -> list[str]:
    """``tune``'s flags as ``--set`` overrides, so the config checks name the key."""
    flags = {"target": "tune.target", "slice": "tune.slice", "budget": "tune.budget"}
    return [
        f"{key}={getattr(args, flag)}"
        for flag, key in flags.items()
        if getattr(args, flag, None) is not None
    ]


def _add_config_arguments(sub: argparse.ArgumentParser, conf_required: bool = True) -> None:
    sub.add_argument("--conf", required=conf_required, help="YAML config, e.g. conf/local.yaml")
    sub.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=5 (repeatable)",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``samplegen`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging()
    if args.command not in NEEDS_NO_SPARK:
        problem = check_supported()
        if problem is not None:  # one line before any work: see samplegen.compat
            print(f"samplegen: {problem}", file=sys.stderr)
            return 2
    if args.command == "fetch-jars":
        from samplegen.spark import ensure_delta_jars

        for path in ensure_delta_jars():
            print(path)
        return 0
    if args.command == "config-reference":
        print(config_reference(), end="")
        return 0
    if args.command == "strategies":
        print(strategy_table(), end="")
        return 0
    if args.command == "tune" and find_spec("optuna") is None:
        print(
            "samplegen: tune needs Optuna: pip install 'samplegen[tune]' (the tune extra)",
            file=sys.stderr,
        )
        return 2
    try:
        _check_identifiers(args)
        overrides = args.set + (_tune_overrides(args) if args.command == "tune" else [])
        # no --conf (simulate): the defaults
        cfg = load_config(args.conf, overrides, recipe=getattr(args, "recipe", None))
        remember_secrets(cfg.to_dict())
        if getattr(args, "run_id", None):
            check_run_paths(cfg, args.run_id)
    except IdentifierError as err:
        print(f"samplegen: {err}", file=sys.stderr)
        return 2
    except ConfigError as err:
        print(f"samplegen: config error: {mask_text(str(err))}", file=sys.stderr)
        return 2
    if args.command == "runs":
        _print_runs(cfg.reports_root)
        return 0
    actions = {"profile": _print_profile, "simulate": _simulate, "compare": _compare}
    if args.command in actions:
        return _with_spark(cfg, actions[args.command], args)
    if args.command in NEEDS_RUN_ID and not args.run_id:
        print(f"samplegen: {args.command} needs --run-id of a trained run", file=sys.stderr)
        return 2
    if args.command == "tune":
        return _tune(cfg, args)
    run_id = args.run_id or new_run_id()
    stages = list(STAGE_COMMANDS) if args.command == "run" else [args.command]

    from samplegen.locks import LakehouseBusyError
    from samplegen.pipeline import run_stages
    from samplegen.spark import get_spark

    LOG.info(
        "run_id=%s event=start command=%s conf=%s set=%s",
        run_id,
        args.command,
        args.conf,
        " ".join(mask_override(item) for item in args.set),
    )
    spark = get_spark(cfg.spark)
    try:
        results = run_stages(spark, cfg, run_id, stages, force=args.force)
    except LakehouseBusyError as err:  # not a failure of this job: a scheduler may retry later
        LOG.error("run_id=%s event=busy %s", run_id, err)
        print(f"samplegen: run {run_id} refused: {err}", file=sys.stderr)
        return EXIT_BUSY
    except ConfigError as err:  # e.g. tables.catalog not in this session: checked before stage 1
        print(f"samplegen: config error: {mask_text(str(err))}", file=sys.stderr)
        return 2
    except Exception as err:  # a scheduler needs one line with the reason, and a non-zero code
        LOG.exception("run_id=%s event=failed", run_id)
        line = mask_text(f"{type(err).__name__}: {err}")
        print(f"samplegen: run {run_id} failed: {line}", file=sys.stderr)
        return 1
    finally:
        if cfg.spark.master != "active":
            spark.stop()
    _print_summary(run_id, results)
    return 0


def _check_identifiers(args: argparse.Namespace) -> None:
    """Refuse a run id given on the command line that is not an identifier (samplegen.ids)."""
    names = (
        ("run_id", "--run-id"),
        ("run_a", "run_a"),
        ("run_b", "run_b"),
        ("name", "--name"),
        ("then_run", "--then-run"),
    )
    for attr, name in names:
        value = getattr(args, attr, None)
        if value is not None:
            check_identifier(value, name)


def check_run_paths(cfg: Config, run_id: str) -> None:
    """Refuse a run whose model or report folder would leave its root.

    Raises:
        IdentifierError: naming ``--run-id`` (the roots come from the config, the id from you).
    """
    path_under(cfg.models_root, cfg.train.model, run_id, name="--run-id")
    path_under(cfg.reports_root, run_id, name="--run-id")


def _with_spark(cfg, action, args: argparse.Namespace) -> int:
    """Run ``action(spark, cfg, args)``; an error becomes one line on stderr and exit code 1.

    A session that was already running (a notebook, a test) is left running.
    """
    from pyspark.sql import SparkSession

    from samplegen.spark import get_spark

    existed = SparkSession.getActiveSession() is not None
    try:
        spark = get_spark(cfg.spark)
    except Exception as err:  # e.g. the Delta jars cannot be fetched
        print(f"samplegen: {args.command} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    from samplegen.damage import explained_missing_files

    try:
        with explained_missing_files():
            action(spark, cfg, args)
    except (FileNotFoundError, ValueError) as err:  # a missing table, a bad argument
        print(f"samplegen: {args.command} failed: {mask_text(str(err))}", file=sys.stderr)
        return 1
    except Exception as err:  # a scheduler needs one line with the reason, and a non-zero code
        LOG.exception("command=%s event=failed", args.command)
        line = mask_text(f"{type(err).__name__}: {err}")
        print(f"samplegen: {args.command} failed: {line}", file=sys.stderr)
        return 1
    finally:
        if not existed and cfg.spark.master != "active":
            spark.stop()
    return 0


def _tune(cfg: Config, args: argparse.Namespace) -> int:
    """Run the search; a config error (the key named) is exit 2, any other failure exit 1."""
    from samplegen.spark import get_spark
    from samplegen.tune import run_tune
    from samplegen.tune.holdout import score_on_test, skip_reason

    if args.then_run == args.run_id or (args.force_test and not args.then_run):
        print(
            "samplegen: --then-run needs a new run id (--force-test needs --then-run)",
            file=sys.stderr,
        )
        return 2
    LOG.info("run_id=%s event=start command=tune conf=%s", args.run_id, args.conf)
    spark = get_spark(cfg.spark)
    results, skipped = [], None
    try:
        result = run_tune(spark, cfg, args.run_id, name=args.name)
        results.append(result)
        if args.then_run:
            skipped = skip_reason(result, args.force_test)
            results += score_on_test(spark, cfg, result, args.then_run, args.force_test)
    except ConfigError as err:
        print(f"samplegen: config error: {mask_text(str(err))}", file=sys.stderr)
        return 2
    except Exception as err:  # a scheduler needs one line with the reason, and a non-zero code
        LOG.exception("run_id=%s event=failed command=tune", args.run_id)
        line = mask_text(f"{type(err).__name__}: {err}")
        print(f"samplegen: tune {args.run_id} failed: {line}", file=sys.stderr)
        return 1
    finally:
        if cfg.spark.master != "active":
            spark.stop()
    _print_summary(args.run_id, results[:1])
    if len(results) > 1:
        _print_summary(args.then_run, results[1:])
    if skipped:
        print(f"samplegen: no test run {args.then_run}: {skipped}")
    return 0


def _print_profile(spark, cfg, args: argparse.Namespace) -> None:
    from samplegen.features.profile import format_profile
    from samplegen.tables import DATA_PROFILE, read_table, table_store

    rows = read_table(spark, table_store(cfg), DATA_PROFILE).collect()
    print(f"data profile of {table_store(cfg).where()}")
    figures = {r["metric"]: r["value"] for r in rows}
    print(format_profile(figures, cfg.aggregate.auto_min_test_share), end="")


def _compare(spark, cfg, args: argparse.Namespace) -> None:
    from samplegen.evaluate.compare import compare_runs, format_comparison, headline
    from samplegen.tables import table_store

    k = None if args.all else cfg.evaluate.k
    comparison = compare_runs(spark, table_store(cfg), args.run_a, args.run_b, k)
    shown = comparison if args.all else headline(comparison)
    print(f"compare A={args.run_a} B={args.run_b} ({len(shown)} of {len(comparison)} rows)")
    print(format_comparison(shown, args.run_a, args.run_b), end="")
    if args.csv:
        from samplegen.exports import write_csv

        print(f"wrote {write_csv(shown, args.csv)}")


def _simulate(spark, cfg, args: argparse.Namespace) -> None:
    from samplegen.data.simulate import SimulationSpec, write_simulation

    spec = SimulationSpec(
        n_events=args.events, n_items=args.items, n_categories=args.categories, seed=args.seed
    )
    counts = write_simulation(spark, spec, args.out, fmt=args.format)
    print(f"wrote {args.out}: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))


def _print_summary(run_id: str, results: list) -> None:
    print(f"\nrun {run_id} finished")
    for result in results:
        print("\n".join("  " + line for line in result_lines(result)))


def _print_runs(reports_root: str) -> None:
    runs = list_runs(reports_root)
    if not runs:
        print(f"no runs under {reports_root}")
    for run in runs:
        stages = " ".join(f"{name}={status}" for name, status in run["stages"].items())
        print(f"{run['run_id']}  {run['updated_at']}  {stages}")
        for line in run["verdict"]:
            print(f"    {line}")


def run() -> None:
    """Console-script entry point: exits with :func:`main`'s code.

    Wheel-task launchers (Databricks) call the entry point and ignore what it returns, so a
    failure must leave as an exit status for the task to fail.
    """
    sys.exit(main())


if __name__ == "__main__":
    run()
