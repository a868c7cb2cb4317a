"""Evaluation commands of the CLI: `newswatch eval` replays labeled corpora through the real pipeline and scores
them (pipeline.evaluation); `cluster-file` runs the incident engine over a file of records (pipeline.clustering)
and `eval-clusters` scores such a clustering (pipeline.scoring). Composition only."""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from flows.cli import config_option, handle_errors, main, quiet_prefect, settings_from
from pipeline.evaluation import EvalReport, Replay, evaluate_replay, evaluate_total
from pipeline.scoring import PRF, score_clustering
from pipeline.settings import load_settings

_COLUMNS = ("corpus", "incidents", "recall", "precision", "dup", "false", "optional", "relevance F1",
            "B-cubed F1", "pairwise F1", "non-English joined")


def corpus_dirs(dirs: tuple[Path, ...], list_file: Path | None) -> list[Path]:
    """The corpus directories named on the command line, then those of `list_file` (one a line, relative to the
    file; blank lines and `#` comments skipped). Raises click.BadParameter for a line that is not a directory."""
    found = list(dirs)
    if list_file is not None:
        for n, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            path = (list_file.parent / line).resolve()
            if not path.is_dir():
                raise click.BadParameter(f"line {n}: {line}: not a directory", param_hint="--list")
            found.append(path)
    if not found:
        raise click.UsageError("name at least one corpus directory (or --list FILE)")
    return found


def _row(name: str, r: EvalReport) -> list[str]:
    joined = sum(r.non_english_assigned.values())
    return [name, f"{r.alerted_incidents}/{r.incidents}", f"{r.alert_recall:.3f}", f"{r.alert_precision:.3f}",
            str(r.duplicate_alerts), str(r.false_alerts), str(r.optional_alerts), f"{r.relevance.f1:.3f}",
            f"{r.bcubed.f1:.3f}", f"{r.pairwise.f1:.3f}", f"{joined}/{len(r.non_english_assigned)}"]


def print_scores(reports: dict[str, EvalReport], verbose: bool) -> None:
    """One row per corpus and a total row, then each corpus's alerts and what was missed when `verbose`."""
    rows = [list(_COLUMNS)] + [_row(name, r) for name, r in reports.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for k, row in enumerate(rows):
        if k == len(rows) - 1 and len(rows) > 2:
            click.echo("  ".join("-" * w for w in widths))
        click.echo("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    for name, r in reports.items():
        if name == "total" or not verbose:
            continue
        click.echo(f"\n{name}: false alerts by kind {r.false_alerts_by_kind or '{}'}; "
                   f"alerted article's rank in its incident {r.alert_ranks}")
        for a in r.alerts:
            click.echo(f"  {a.verdict:9s} {a.kind:15s} {a.gold_incident or '-':28s} rank {a.rank or '-'}  {a.url}")
        for url, joined in r.non_english_assigned.items():
            if not joined:
                click.echo(f"  not joined (non-English) {url}")


@main.command("eval")
@config_option
@click.argument("corpus_dirs_", metavar="CORPUS_DIR...", nargs=-1,
                type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--list", "list_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A file naming corpus directories, one a line (relative to the file).")
@click.option("--step-hours", type=float, default=12.0, show_default=True, help="Virtual clock step.")
@click.option("--all-steps", is_flag=True, help="Run a cycle on every step, also when no item became visible.")
@click.option("--warehouse-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep each replay's warehouse here as <corpus>.duckdb (default: a temporary directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON: one object per corpus and 'total'.")
@click.option("--verbose", "-v", is_flag=True, help="Also list every alert with its verdict, and unjoined reports.")
@handle_errors
def eval_corpus(config: tuple[str, ...], corpus_dirs_: tuple[Path, ...], list_file: Path | None, step_hours: float,
                all_steps: bool, warehouse_dir: Path | None, as_json: bool, verbose: bool) -> None:
    """Replay labeled corpora (dev-corpus layout: site/, labels.jsonl, incidents.json) through the real pipeline
    with a virtual clock (feeds show only items published so far), one cycle per step and a fresh warehouse per
    corpus, then print one row per corpus and the total: incidents alerted, alert recall and precision, duplicate,
    false and optional alerts, relevance F1, B-cubed and pairwise F1 of incident assignment over relevant articles,
    and how many non-English reports joined their incident. Incidents marked "optional" in incidents.json count
    neither as hits nor as false alerts.

    \b
    Examples:
      newswatch eval pipeline/defaults/corpus/dev
      newswatch eval pipeline/defaults/corpus/dev tests/data/corpus/dev-late2025 tests/data/corpus/dev-winter2024 -v
      newswatch eval --list corpora.txt --json
    """
    quiet_prefect()
    from flows.replay import replay

    dirs = corpus_dirs(corpus_dirs_, list_file)
    out_dir = warehouse_dir or Path(tempfile.mkdtemp(prefix="newswatch-eval-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [d.resolve().name for d in dirs]
    if len(set(names)) != len(names):
        raise click.UsageError(f"two corpus directories share a name: {names}")
    replays: dict[str, Replay] = {}
    for name, corpus in zip(names, dirs):
        path = out_dir / f"{name}.duckdb"
        path.unlink(missing_ok=True)
        settings = settings_from(config, overrides={
            "warehouse": {"path": str(path)}, "fetch": {"allow_private_addresses": True},
            "alerts": {"channels": [{"name": "log", "type": "log"}]},
        })

        def progress(n: int, total: int, clock: datetime, report: Any, name: str = name) -> None:
            click.echo(f"\r{name}: step {n}/{total} clock {clock:%Y-%m-%d %H:%M} alerts {len(report.alerts)}   ",
                       nl=False, err=True)

        replays[name] = replay(corpus, settings, step_hours, skip_empty=not all_steps, progress=progress)
        click.echo("", err=True)
    reports = {name: evaluate_replay(r.labels, r.decisions, r.alerted_urls) for name, r in replays.items()}
    if len(reports) > 1:
        reports["total"] = evaluate_total(replays)
    if as_json:
        click.echo(json.dumps({name: r.as_dict() for name, r in reports.items()}, indent=1))
        return
    print_scores(reports, verbose)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read JSON lines: {exc}") from exc


@main.command("cluster-file")
@config_option
@click.argument("input_path", metavar="INPUT.jsonl[.gz]", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write {id, incident, new} per record.")
@handle_errors
def cluster_file(config: tuple[str, ...], input_path: Path, output: Path) -> None:
    """Run the live incident engine (same model and [cluster] settings, topic relevance off: every record
    counts) over records {id, date, title, text} in stream order; label fields are never read. Writes one
    {id, incident, new} line per record; `new` means the record opened an incident. With no --config the
    shipped defaults are used.

    \b
    Example:
      newswatch cluster-file ../shared/bench/gva-dev.jsonl.gz --output /tmp/clusters.jsonl
    """
    from flows import resources
    from flows.outfiles import save_file
    from pipeline.clustering import cluster_inputs, cluster_model, cluster_records

    settings = load_settings([Path(c) for c in config]) if config else load_settings([])
    engine = settings.cluster
    rows = _read_jsonl(input_path)
    try:
        records = cluster_inputs(rows)
    except ValueError as exc:
        raise click.ClickException(f"{input_path}: {exc}") from exc
    emb = resources.embedder(cluster_model(engine), settings.embed.batch_size)
    later_stage = resources.topic(settings.topic.path).later_stage
    with click.progressbar(length=len(records), label=f"embedding with {emb.name}", file=sys.stderr) as bar:
        assigned = cluster_records(emb, engine, records, later_stage, on_chunk=bar.update)
    output.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for r in rows:
                a = assigned[str(r["id"])]
                fh.write(json.dumps({"id": r["id"], "incident": a.incident_id, "new": a.opened}) + "\n")

    save_file(output, write, "the clustering")
    click.echo(f"{len(records)} records -> {len({a.incident_id for a in assigned.values()})} incidents: {output}",
               err=True)


def _fmt_prf(p: PRF) -> str:
    return f"P {p.precision:.3f}  R {p.recall:.3f}  F1 {p.f1:.3f}"


@main.command("eval-clusters")
@click.argument("predicted", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--gold", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Labeled records with `id` and `cluster` (and optionally `is_first`), .jsonl or .jsonl.gz.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_clusters(predicted: Path, gold: Path, as_json: bool) -> None:
    """Score a clustering ({id, incident, new} lines from cluster-file) against gold `cluster` labels:
    pairwise P/R/F1, B-cubed P/R/F1 and first-story P/R/F1 (gold first story: `is_first`, else the earliest
    record of each cluster in file order).

    \b
    Example:
      newswatch eval-clusters /tmp/clusters.jsonl --gold ../shared/bench/gva-dev.jsonl.gz
    """
    gold_rows = _read_jsonl(gold)
    pred_rows = {str(r["id"]): r for r in _read_jsonl(predicted)}
    missing = [str(r["id"]) for r in gold_rows if str(r["id"]) not in pred_rows]
    if missing:
        raise click.ClickException(f"{predicted}: {len(missing)} gold ids have no prediction (first: {missing[0]})")
    scores = score_clustering(gold_rows, pred_rows)
    if as_json:
        click.echo(json.dumps({k: vars(v) for k, v in scores.items()}, indent=1))
        return
    for name, prf in scores.items():
        click.echo(f"{name:12s} {_fmt_prf(prf)}")
