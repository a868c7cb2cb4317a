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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    # Chinese and Japanese write no spaces between words, Korean attaches particles: a cue there matches inside
    # running text.
    before = "" if _is_cjk(words[0][0]) else r"(?<!\w)"
    after = "" if _is_cjk(words[-1].rstrip("*")[-1:] or "a") else r"(?!\w)"
    return re.compile(before + r"[\s\-]+".join(parts) + after)


CJK_CHAR = re.compile("[\u2e80-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
"""A Chinese, Japanese or Korean character: scripts whose words a cue must match inside running text (Chinese and
Japanese write no spaces; Korean attaches its particles: 북한의, 영공을). Hangul counts in both its syllables and the
jamo that fold_text decomposes them into."""


def _is_cjk(ch: str) -> bool:
    return CJK_CHAR.match(ch) is not None


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


EXAMPLE_KINDS = ("report", "follow_up", "analysis", "near_topic", "unrelated")
"""The kinds of labeled example a topic file gives (the same words as a corpus's labels.jsonl `kind`)."""


@dataclass(frozen=True)
class Examples:
    """Labeled example headlines or leads, by kind (EXAMPLE_KINDS): what the report classifier learns from,
    together with any labeled corpora (`newswatch topic train`)."""

    by_kind: tuple[tuple[str, tuple[str, ...]], ...]

    def items(self) -> list[tuple[str, str]]:
        """(kind, text) pairs, in file order."""
        return [(kind, text) for kind, texts in self.by_kind for text in texts]


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
class Topic:
    """A watch topic: what it is about, examples, cues and an entity gazetteer."""

    name: str
    description: str
    examples: Examples
    entities: EntityGazetteer
    source: str
    later_stage: tuple[Cue, ...] = ()
    """Words naming a later stage of a story (arrest, charge, trial, verdict): such a report follows up an incident
    weeks or months later (lexical.is_follow_up)."""


# --- validation models (untrusted input); extra="forbid" on every model so a typo names its key ---

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _check_cues(values: list[str]) -> list[str]:
    for value in values:
        compile_cue(value)
    return values


class _ExamplesModel(BaseModel):
    model_config = _STRICT
    report: list[str] = Field(min_length=1)
    follow_up: list[str] = Field(default_factory=list)
    analysis: list[str] = Field(min_length=1)
    near_topic: list[str] = Field(default_factory=list)
    unrelated: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_negatives(self) -> _ExamplesModel:
        if not (self.near_topic or self.unrelated):
            raise ValueError("give near_topic or unrelated examples (what the topic is not)")
        return self


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
    states: list[_EntryModel] = Field(default_factory=list)
    """Extra cues for states (language forms the datasets lack); every state comes from pipeline.gazetteer."""
    intruders: list[_EntryModel] = Field(min_length=1)

    _valid_context = field_validator("violated_before", "violated_after")(_check_cues)


class _FollowUpModel(BaseModel):
    model_config = _STRICT
    later_stage: list[str] = Field(default_factory=list)

    _valid_later = field_validator("later_stage")(_check_cues)


class _TopicModel(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    examples: _ExamplesModel
    entities: _EntitiesModel
    follow_up: _FollowUpModel = Field(default_factory=_FollowUpModel)


def _cues(values: list[str]) -> tuple[Cue, ...]:
    return tuple(Cue(text=value, pattern=compile_cue(value), literal=cue_literal(value)) for value in values)


def _context_pattern(values: list[str], *, before: bool) -> re.Pattern[str]:
    """One regex for context cues: anchored at the end of the preceding text or the start of the following."""
    if not values:
        return re.compile(r"(?!)")  # matches nothing
    alternatives = "|".join(compile_cue(value).pattern for value in values)
    if before:
        return re.compile(rf"(?:{alternatives})\s*$")  # \s*: Chinese writes no spaces
    return re.compile(rf"^(?:['\u2019]s)?\s*(?:{alternatives})")


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
    from pipeline.gazetteer import merge_states, world_states

    states = merge_states(world_states(), _entries(model.entities.states))
    state_names = {s.name for s in states}
    for key in ("intruder_origins", "theatre"):
        unknown = [n for n in getattr(model.entities, key) if n not in state_names]
        if unknown:
            raise ValueError(f"invalid topic file {source}: entities.{key}: states not in entities.states: {unknown}")
    return Topic(
        name=model.name,
        description=" ".join(model.description.split()),
        examples=Examples(tuple((kind, tuple(getattr(model.examples, kind))) for kind in EXAMPLE_KINDS)),
        entities=EntityGazetteer(
            states=states,
            intruders=_entries(model.entities.intruders),
            intruder_origins=tuple(model.entities.intruder_origins),
            theatre=tuple(model.entities.theatre),
            violated_before=_context_pattern(model.entities.violated_before, before=True),
            violated_after=_context_pattern(model.entities.violated_after, before=False),
            violated_context_weight=model.entities.violated_context_weight,
        ),
        source=source,
        later_stage=_cues(model.follow_up.later_stage),
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
