"""Topic commands of the CLI: `newswatch topic train` fits the report classifier the judge step uses.
Composition only: reading settings, loading the embedder, writing the file."""

from __future__ import annotations

from pathlib import Path

import click

from flows.cli import config_option, handle_errors, main, settings_from
from pipeline.relevance import ANALYSIS_THRESHOLD, OPEN_THRESHOLD


@main.group("topic")
def topic_group() -> None:
    """The watch topic: train the classifier that decides what is a report of an incident.

    \b
    Example:
      newswatch topic train --corpus pipeline/defaults/corpus/dev
    """


@topic_group.command("train")
@config_option
@click.option("--corpus", "corpora", multiple=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A labeled corpus directory (site/, labels.jsonl, incidents.json); repeatable.")
@click.option("--l2", type=click.FloatRange(min=0.0), default=10.0, show_default=True,
              help="Ridge penalty: larger is smoother (fewer, broader decisions).")
@click.option("--open-threshold", type=click.FloatRange(0.0, 1.0), default=OPEN_THRESHOLD, show_default=True,
              help="Report probability from which an article may open an incident and alert.")
@click.option("--analysis-threshold", type=click.FloatRange(0.0, 1.0), default=ANALYSIS_THRESHOLD,
              show_default=True,
              help="Analysis probability from which a relevant article (an analysis, overview or opinion piece) "
                   "joins no incident.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the classifier (default: topic.classifier, beside the topic file).")
@handle_errors
def topic_train(config: tuple[str, ...], corpora: tuple[Path, ...], l2: float, open_threshold: float,
                analysis_threshold: float, out: Path | None) -> None:
    """Train the report classifier from the topic file's labeled examples and any labeled corpora, with the
    configured embedding model (embed.model), and write it beside the topic file. The judge step uses it to tell
    relevant articles (reports and analysis) from near-topic or unrelated news, confident reports (they may open
    an incident and alert) from the rest, and confident analysis pieces (they join no incident) from reports.
    Retrain after editing the examples or changing embed.model.

    \b
    Examples:
      newswatch topic train --corpus pipeline/defaults/corpus/dev --corpus tests/data/corpus/dev-late2025
      newswatch topic train --corpus pipeline/defaults/corpus/dev --out /tmp/fold.classifier.json
    """
    from flows import resources
    from pipeline.training import corpus_examples, fit_classifier, topic_examples

    settings = settings_from(config)
    topic = resources.topic(settings.topic.path)
    examples = topic_examples(topic)
    for corpus in corpora:
        try:
            found = corpus_examples(corpus, settings.embed.lead_words)
        except OSError as exc:
            raise click.ClickException(f"{corpus}: cannot read the corpus: {exc}") from exc
        click.echo(f"{corpus}: {len(found)} labeled articles", err=True)
        examples += found
    embedder = resources.embedder(settings.embed.model, settings.embed.batch_size)
    trained_on = {"topic": Path(topic.source).name, "corpora": [c.resolve().name for c in corpora]}
    classifier = fit_classifier(embedder.name, embedder.encode, examples, lead_words=settings.embed.lead_words,
                                l2=l2, open_threshold=open_threshold, analysis_threshold=analysis_threshold,
                                trained_on=trained_on)
    path = out or Path(settings.topic.classifier_path)
    path.write_text(classifier.to_json() + "\n", encoding="utf-8")
    counts = ", ".join(f"{k} {v}" for k, v in classifier.trained_on["examples"].items())
    click.echo(f"wrote {path} ({embedder.name}; {counts})")
