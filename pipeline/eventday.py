"""The day an article says its event happened ("on Friday evening", "fredag aften", "în noaptea de joi spre
vineri"), read from its headline and lead: a weekday named beside a part of the day, resolved to the latest such
weekday on or before the publication date.

A statement is dated by a bare weekday ("the ministry said on Friday"); an event by a weekday with the part of the
day it happened in ("on Friday evening", "early on Friday", "late on Wednesday"). Only the second counts. Names of
weekdays and parts of the day come from CLDR (the `babel` package) in the languages of pipeline.gazetteer.LOCALES,
so a new language needs no list here.

Pure apart from reading babel's data once; no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from pipeline.gazetteer import INFLECTING, LOCALES
from pipeline.topics import _is_cjk, fold_text

LEAD_WORDS = 60
"""Words of the text (after the headline) searched for the event's day: the lead, where a report dates its event."""

NEAR_WORDS = 3
"""A part of the day counts when at most this many words lie between it and the weekday."""

_PERIODS = ("morning1", "morning2", "afternoon1", "afternoon2", "evening1", "evening2", "night1", "night2")
_EXTRA_PERIODS = ("early", "late", "overnight")
"""English qualifiers that date an event to a part of a day ("early on Friday", "late on Wednesday", "in the early
hours of Friday") and that CLDR's day periods lack."""

_WORD = re.compile(r"[^\W\d_]+")


def _stem(word: str, inflecting: bool) -> str:
    """A word of a declining language matches with another ending (piątek/piątku, penktadienis/penktadienio)."""
    if not inflecting or len(word) < 6:
        return word
    return word[:max(4, len(word) - 2)]


@dataclass(frozen=True)
class _Vocabulary:
    days: tuple[tuple[str, int], ...]  # (weekday stem, ISO weekday 0-6), longest first
    periods: tuple[str, ...]  # part-of-day stems
    cjk: bool  # no spaces between words: weekdays and periods match inside running text
    ending: int  # letters a declined weekday may add to its stem


@lru_cache(maxsize=None)
def _vocabulary(language: str) -> _Vocabulary | None:
    """Weekdays and parts of the day of one language (CLDR), None for a language babel does not know."""
    from babel import Locale, UnknownLocaleError

    names = [n for n in LOCALES if n.split("_")[0] == language] or [language]
    days: set[tuple[str, int]] = set()
    periods: set[str] = set(_EXTRA_PERIODS) if language == "en" else set()
    inflecting = language in INFLECTING
    cjk = False
    for name in names:
        try:
            locale = Locale.parse(name)
        except (UnknownLocaleError, ValueError):
            return None
        for context in ("format", "stand-alone"):
            for weekday, text in locale.days[context]["wide"].items():
                folded = fold_text(text)
                cjk = cjk or any(_is_cjk(ch) for ch in folded)
                days.add((_stem(folded, inflecting), weekday))
            for width in ("wide", "abbreviated"):
                for key, text in locale.day_periods[context].get(width, {}).items():
                    if key in _PERIODS and not text.endswith("."):
                        # the last word carries the meaning: "om aftenen", "in the evening", "no rīta"
                        periods.add(_stem(fold_text(text).split()[-1], inflecting))
    if cjk:  # 周五 besides 星期五
        days |= {("周" + stem[2:], weekday) for stem, weekday in days if stem.startswith("星期")}
    return _Vocabulary(tuple(sorted(days, key=lambda d: -len(d[0]))), tuple(sorted(periods, key=len, reverse=True)),
                       cjk, 3 if inflecting else 0)


def _is_period(word: str, vocabulary: _Vocabulary) -> bool:
    return any(word.startswith(p) for p in vocabulary.periods)


def _weekdays(lead: str, vocabulary: _Vocabulary) -> list[int]:
    """Weekdays the folded `lead` names beside a part of the day."""
    found: list[int] = []
    if vocabulary.cjk:
        for stem, weekday in vocabulary.days:
            for match in re.finditer(re.escape(stem), lead):
                after = lead[match.end():match.end() + 6].lstrip()
                if any(_is_period(after[k:], vocabulary) for k in range(2)):  # 星期五晚上, 金曜日の夜
                    found.append(weekday)
        return found
    words = _WORD.findall(lead)
    for i, word in enumerate(words):
        for stem, weekday in vocabulary.days:
            if not word.startswith(stem):
                continue
            rest = word[len(stem):]
            linked = rest[1:] if rest.startswith("s") else rest  # fredagskväll, Freitagsabend
            if rest and (_is_period(rest, vocabulary) or _is_period(linked, vocabulary)):
                found.append(weekday)  # one word: fredagaften, Freitagabend, vrijdagavond
            elif len(rest) <= vocabulary.ending:
                near = words[max(0, i - NEAR_WORDS - 1):i] + words[i + 1:i + NEAR_WORDS + 2]
                if any(_is_period(w, vocabulary) for w in near):
                    found.append(weekday)
            break
    return found


def stated_day(title: str, text: str, published_at: datetime, lang: str | None) -> date | None:
    """The day the headline or lead dates the event to (the latest such weekday on or before the publication's
    calendar day, or the day after for an afternoon or evening time in UTC), or None when it names no weekday beside a part of the day. Read in the
    article's language and in English (wire copy quotes English datelines); when it names several days, the
    earliest: the event comes before the statements about it."""
    lead = fold_text(f"{title} . {' '.join(text.split()[:LEAD_WORDS])}")
    found: list[int] = []
    for language in dict.fromkeys([(lang or "en").split("-")[0].split("_")[0].lower(), "en"]):
        vocabulary = _vocabulary(language)
        if vocabulary is not None:
            found += _weekdays(lead, vocabulary)
    if not found:
        return None
    # A time in UTC from noon on can fall on the evening before the local date the text speaks of (published Tuesday
    # 23:10 UTC, "early on Wednesday" in Romania): then the next day is allowed. A time with its own offset is
    # already local, and a bare date (midnight) is the day itself.
    latest = published_at.date()
    offset = published_at.utcoffset()
    if (offset is None or not offset) and published_at.hour >= 12:
        latest += timedelta(days=1)
    back = max((latest.weekday() - weekday) % 7 for weekday in found)
    return latest - timedelta(days=back)
