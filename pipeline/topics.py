"""Watch topics as data: frozen records parsed and validated from a topic TOML file, plus the cue syntax.

Pure apart from `load_topic` reading one file; no network, no database, no models.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Letters that NFKD does not decompose into base letter + combining mark.
_FOLD_EXTRA = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "đ": "d", "ı": "i", "œ": "oe", "ð": "d", "þ": "th"})


def fold_text(text: str) -> str:
    """Lower-case `text` and strip accents ("Przestrzeń Powietrzną" -> "przestrzen powietrzna").

    Used on both cues and article text so that cues match across spelling variants (Rzeszów/Rzeszow).
    """
    if text.isascii():
        return text.lower()  # nothing to decompose (casefold and lower agree on ASCII)
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD_EXTRA))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def compile_cue(cue: str) -> re.Pattern[str]:
    """Compile one cue into a regex over folded text.

    Cue syntax: whole words separated by spaces; a trailing "*" on a word matches any ending of that word;
    a lone "*" matches any one word. Raises ValueError for an empty cue.
    """
    words = fold_text(cue).split()
    if not words:
        raise ValueError("empty cue")
    parts: list[str] = []
    for word in words:
        if word == "*":
            parts.append(r"\w+")
        elif word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"\w*")
        else:
            parts.append(re.escape(word))
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(parts) + r"(?!\w)")


def cue_literal(cue: str) -> str:
    """The longest fixed piece of folded text every match of `cue` contains ("" when it has none): a substring
    test on it rules out most texts before the regex runs."""
    pieces = [word.rstrip("*") for word in fold_text(cue).split() if word != "*"]
    return max(pieces, key=len, default="")


@dataclass(frozen=True)
class Cue:
    """One cue as written in the topic file and its compiled pattern (over folded text)."""

    text: str
    pattern: re.Pattern[str]
    literal: str = ""
    """A piece of folded text every match contains (see cue_literal); "" disables the pre-check."""

    def search(self, folded: str) -> re.Match[str] | None:
        """The first match in folded text (None when there is none)."""
        if self.literal not in folded:
            return None
        return self.pattern.search(folded)

    def finditer(self, folded: str) -> Iterator[re.Match[str]]:
        """Every match in folded text."""
        if self.literal not in folded:
            return iter(())
        return self.pattern.finditer(folded)


@dataclass(frozen=True)
class Examples:
    """Example sentences: `positive` are on topic, `negative` are near-topic or unrelated."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]


@dataclass(frozen=True)
class Cues:
    """Include cues signal the topic; exclude cues signal a near-topic story."""

    include: tuple[Cue, ...]
    exclude: tuple[Cue, ...]


@dataclass(frozen=True)
class GazetteerEntry:
    """A canonical name (state or intruder kind) and the cues that mention it."""

    name: str
    cues: tuple[Cue, ...]


@dataclass(frozen=True)
class EntityGazetteer:
    """States and intruder kinds; `intruder_origins`/`theatre` name states that are rarely the violated one.

    `violated_before` matches the end of the text just before a state mention, `violated_after` the start
    of the text just after it (folded text); such a mention counts `violated_context_weight` times.
    """

    states: tuple[GazetteerEntry, ...]
    intruders: tuple[GazetteerEntry, ...]
    intruder_origins: tuple[str, ...]
    theatre: tuple[str, ...]
    violated_before: re.Pattern[str]
    violated_after: re.Pattern[str]
    violated_context_weight: float


@dataclass(frozen=True)
class Genre:
    """What marks an article as NOT a report of one incident (analysis, opinion, overview): it is kept as a
    relevant article in no incident, so it never alerts and never inflates an incident's counts."""

    non_report_title: tuple[Cue, ...]
    non_report_path: tuple[str, ...]
    overview_min_states: int
    overview_lead_words: int


@dataclass(frozen=True)
class Topic:
    """A watch topic: what it is about, examples, cues and an entity gazetteer."""

    name: str
    description: str
    examples: Examples
    cues: Cues
    entities: EntityGazetteer
    source: str
    genre: Genre = Genre((), (), 0, 60)


# --- validation models (untrusted input); extra="forbid" on every model so a typo names its key ---

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _check_cues(values: list[str]) -> list[str]:
    for value in values:
        compile_cue(value)
    return values


class _ExamplesModel(BaseModel):
    model_config = _STRICT
    positive: list[str] = Field(min_length=1)
    negative: list[str] = Field(min_length=1)


class _CuesModel(BaseModel):
    model_config = _STRICT
    include: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)

    _valid_include = field_validator("include")(_check_cues)
    _valid_exclude = field_validator("exclude")(_check_cues)


class _EntryModel(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    cues: list[str] = Field(min_length=1)

    _valid_cues = field_validator("cues")(_check_cues)


class _EntitiesModel(BaseModel):
    model_config = _STRICT
    intruder_origins: list[str] = Field(default_factory=list)
    theatre: list[str] = Field(default_factory=list)
    violated_before: list[str] = Field(default_factory=list)
    violated_after: list[str] = Field(default_factory=list)
    violated_context_weight: float = Field(default=1.0, ge=1.0)
    states: list[_EntryModel] = Field(min_length=1)
    intruders: list[_EntryModel] = Field(min_length=1)

    _valid_context = field_validator("violated_before", "violated_after")(_check_cues)


class _GenreModel(BaseModel):
    model_config = _STRICT
    non_report_title: list[str] = Field(default_factory=list)
    non_report_path: list[str] = Field(default_factory=list)
    overview_min_states: int = Field(default=0, ge=0)
    overview_lead_words: int = Field(default=60, ge=1)

    _valid_title = field_validator("non_report_title")(_check_cues)


class _TopicModel(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    examples: _ExamplesModel
    cues: _CuesModel
    entities: _EntitiesModel
    genre: _GenreModel = Field(default_factory=_GenreModel)


def _cues(values: list[str]) -> tuple[Cue, ...]:
    return tuple(Cue(text=value, pattern=compile_cue(value), literal=cue_literal(value)) for value in values)


def _context_pattern(values: list[str], *, before: bool) -> re.Pattern[str]:
    """One regex for context cues: anchored at the end of the preceding text or the start of the following."""
    if not values:
        return re.compile(r"(?!)")  # matches nothing
    alternatives = "|".join(compile_cue(value).pattern for value in values)
    if before:
        return re.compile(rf"(?:{alternatives})\s+$")
    return re.compile(rf"^(?:['\u2019]s)?\s+(?:{alternatives})")


def _entries(models: list[_EntryModel]) -> tuple[GazetteerEntry, ...]:
    return tuple(GazetteerEntry(name=m.name, cues=_cues(m.cues)) for m in models)


def parse_topic(data: Mapping[str, Any], source: str) -> Topic:
    """Validate a topic mapping (as read from TOML) and return a frozen `Topic`.

    `source` names the file in error messages. Raises ValueError naming the offending key(s) and the
    source for unknown keys, missing keys, wrong types, bad cues, or origin/theatre states absent from
    the gazetteer.
    """
    try:
        model = _TopicModel.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"invalid topic file {source}: {problems}") from exc
    state_names = {s.name for s in model.entities.states}
    for key in ("intruder_origins", "theatre"):
        unknown = [n for n in getattr(model.entities, key) if n not in state_names]
        if unknown:
            raise ValueError(f"invalid topic file {source}: entities.{key}: states not in entities.states: {unknown}")
    genre = Genre(
        non_report_title=_cues(model.genre.non_report_title),
        non_report_path=tuple(p.strip("/").lower() for p in model.genre.non_report_path),
        overview_min_states=model.genre.overview_min_states,
        overview_lead_words=model.genre.overview_lead_words,
    )
    return Topic(
        genre=genre,
        name=model.name,
        description=" ".join(model.description.split()),
        examples=Examples(positive=tuple(model.examples.positive), negative=tuple(model.examples.negative)),
        cues=Cues(include=_cues(model.cues.include), exclude=_cues(model.cues.exclude)),
        entities=EntityGazetteer(
            states=_entries(model.entities.states),
            intruders=_entries(model.entities.intruders),
            intruder_origins=tuple(model.entities.intruder_origins),
            theatre=tuple(model.entities.theatre),
            violated_before=_context_pattern(model.entities.violated_before, before=True),
            violated_after=_context_pattern(model.entities.violated_after, before=False),
            violated_context_weight=model.entities.violated_context_weight,
        ),
        source=source,
    )


def load_topic(path: str | Path) -> Topic:
    """Read and validate a topic TOML file. Raises OSError if unreadable, ValueError if invalid."""
    path = Path(path)
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"invalid topic file {path}: {exc}") from exc
    return parse_topic(data, str(path))
