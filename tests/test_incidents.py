"""Behaviour of the incident index (hand-made vectors) and of the lexical evidence it relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.assign import build_index
from pipeline.incidents import Assignment, ClusterSettings, IncidentIndex, Member
from pipeline.lexical import ENTITY_PREFIX, DocFreq, extract_terms
from pipeline.lexical import is_follow_up as lexical_is_follow_up
from pipeline.defaults import SHIPPED_TOPIC
from pipeline.topics import load_topic

T0 = datetime(2025, 9, 10, 4, 0, tzinfo=UTC)
SETTINGS = ClusterSettings(
    window_days=14.0,
    threshold=0.5,
    dense_weight=0.5,
    dense_floor=0.0,
    lexical_weight=0.5,
    decay_days=5.0,
    decay_floor=0.6,
    lexical_decay_floor=0.6,
    full_words=0,
    top_k=1,
)


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


DRONE = unit(1.0, 0.1, 0.0, 0.0)  # every drone-incursion story sits here: dense alone cannot tell them apart
SHOOTING = unit(0.0, 0.0, 1.0, 0.1)


def terms(title: str, text: str = "") -> dict[str, int]:
    return extract_terms(title, text)


def background(index: IncidentIndex, n: int = 20) -> None:
    """Unrelated past articles, so document frequencies make common words cheap and names dear."""
    for i in range(n):
        t = terms(f"Markets report {i}", "Shares rose on Monday as drones and airports were not in the news today.")
        index.doc_freq.add(t)


def index_with(*members: Member, settings: ClusterSettings = SETTINGS) -> IncidentIndex:
    index = IncidentIndex(settings, DocFreq())
    background(index)
    for m in members:
        index.add(m)
    return index


POLAND = terms(
    "Drones cross into Poland near Wyryki",
    "Polish jets scrambled after Russian drones crossed into Poland overnight; debris fell near Wyryki.",
)
ROMANIA = terms(
    "Drone crosses into Romania near Tulcea",
    "Romanian jets scrambled after a Russian drone crossed into Romania overnight near Tulcea.",
)


def test_first_article_opens_an_incident() -> None:
    index = IncidentIndex(SETTINGS, DocFreq())
    assert index.assign(DRONE, POLAND, T0) == Assignment(None, 0.0, None)


def test_follow_up_with_same_names_joins_its_incident() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    follow_up = terms("Poland counts cost of drone night", "Wreckage found in Wyryki as Poland asks allies for help.")
    a = index.assign(unit(1.0, 0.15, 0.0, 0.0), follow_up, T0 + timedelta(days=1))
    assert a.incident_id == "pl"
    assert a.nearest_key == "pl-1"
    assert a.score >= SETTINGS.threshold


def test_same_kind_incidents_a_few_days_apart_stay_apart() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    a = index.assign(DRONE, ROMANIA, T0 + timedelta(days=3))
    assert a.incident_id is None
    assert a.nearest_key == "pl-1"
    assert 0.0 < a.score < SETTINGS.threshold


def test_same_kind_incidents_a_week_apart_stay_apart() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    assert index.assign(DRONE, ROMANIA, T0 + timedelta(days=7)).incident_id is None


def test_different_kind_of_story_opens_a_new_incident() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    shooting = terms("Four shot at party in Akron", "Police in Akron said four people were shot at a party.")
    assert index.assign(SHOOTING, shooting, T0 + timedelta(hours=2)).incident_id is None


def test_members_outside_the_window_are_not_candidates() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    late = T0 + timedelta(days=SETTINGS.window_days + 1)
    assert index.assign(DRONE, POLAND, late) == Assignment(None, 0.0, None)


def test_member_published_slightly_after_the_article_is_still_a_candidate() -> None:
    index = index_with(Member("pl-2", "pl", T0 + timedelta(hours=3), DRONE, POLAND))
    assert index.assign(DRONE, POLAND, T0).incident_id == "pl"


def test_evidence_fades_with_time_between_articles() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    soon = index.assign(DRONE, POLAND, T0 + timedelta(days=1)).score
    later = index.assign(DRONE, POLAND, T0 + timedelta(days=10)).score
    assert later < soon


def test_best_matching_incident_wins() -> None:
    index = index_with(
        Member("pl-1", "pl", T0, DRONE, POLAND),
        Member("ro-1", "ro", T0 + timedelta(days=3), DRONE, ROMANIA),
    )
    follow_up = terms("Tulcea residents describe drone alert", "Romania says the drone near Tulcea left after minutes.")
    a = index.assign(DRONE, follow_up, T0 + timedelta(days=4))
    assert a.incident_id == "ro"
    assert a.nearest_key == "ro-1"


def test_assign_does_not_change_the_index() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    n_docs = index.doc_freq.n_docs
    first = index.assign(DRONE, ROMANIA, T0 + timedelta(days=1))
    assert index.assign(DRONE, ROMANIA, T0 + timedelta(days=1)) == first
    assert len(index) == 1
    assert index.doc_freq.n_docs == n_docs


def test_add_counts_terms_unless_restoring_from_a_persisted_doc_freq() -> None:
    index = IncidentIndex(SETTINGS, DocFreq())
    index.add(Member("pl-1", "pl", T0, DRONE, POLAND))
    index.add(Member("ro-1", "ro", T0, DRONE, ROMANIA), count_terms=False)
    assert index.doc_freq.n_docs == 1
    assert index.doc_freq.df("wyryki") == 1
    assert index.doc_freq.df("tulcea") == 0
    assert len(index) == 2


def test_mean_of_top_k_needs_more_than_one_close_member() -> None:
    settings = ClusterSettings(**{**SETTINGS.__dict__, "top_k": 2, "threshold": 0.7})
    members = [Member("pl-1", "pl", T0, DRONE, POLAND), Member("pl-2", "pl", T0, SHOOTING, {"unrelated": 1})]
    single = index_with(*members).assign(DRONE, POLAND, T0)
    averaged = index_with(*members, settings=settings).assign(DRONE, POLAND, T0)
    assert single.incident_id == "pl"
    assert averaged.incident_id is None
    assert averaged.score < single.score


def test_naive_publication_time_is_rejected() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    with pytest.raises(ValueError, match="timezone-aware"):
        index.assign(DRONE, POLAND, datetime(2025, 9, 10))


def test_shipped_defaults_keep_two_same_kind_incidents_apart_and_join_a_follow_up() -> None:
    # cosines typical of multilingual-e5-small: 0.9 for two drone incursions, 0.95 within one
    pl_vector = unit(1.0, 0.0, 0.0, 0.0)
    ro_vector = unit(0.9, np.sqrt(1 - 0.9**2), 0.0, 0.0)
    pl_follow_up = unit(0.95, 0.0, np.sqrt(1 - 0.95**2), 0.0)
    # the fixtures are a dozen words, shorter than any real article: switch the title-only rule off here
    # (test_title_only_article_leans_on_the_dense_score covers it)
    shipped = ClusterSettings(full_words=0)
    index = index_with(Member("pl-1", "pl", T0, pl_vector, POLAND), settings=shipped)
    assert index.assign(ro_vector, ROMANIA, T0 + timedelta(days=3)).incident_id is None
    follow_up = terms("Poland counts cost of drone night", "Wreckage found in Wyryki as Poland asks allies for help.")
    assert index.assign(pl_follow_up, follow_up, T0 + timedelta(hours=6)).incident_id == "pl"


def test_title_only_article_leans_on_the_dense_score() -> None:
    # a dead link or a stub: only the title's few words, most of them not in the incident's articles
    settings = ClusterSettings()
    pl_vector = unit(1.0, 0.0, 0.0, 0.0)
    stub_vector = unit(0.86, np.sqrt(1 - 0.86**2), 0.0, 0.0)
    stub = terms("Foam, plywood and an engine: what the drones over Poland were made of", "")
    index = index_with(Member("pl-1", "pl", T0, pl_vector, POLAND), settings=settings)
    assert index.assign(stub_vector, stub, T0 + timedelta(days=1)).incident_id == "pl"
    without = index_with(Member("pl-1", "pl", T0, pl_vector, POLAND),
                         settings=ClusterSettings(**{**settings.__dict__, "full_words": 0}))
    assert without.assign(stub_vector, stub, T0 + timedelta(days=1)).incident_id is None


def test_lexical_evidence_fades_slower_than_dense_similarity() -> None:
    settings = ClusterSettings(**{**SETTINGS.__dict__, "decay_floor": 0.5, "lexical_decay_floor": 0.9})
    # lexical-only evidence (orthogonal vectors) against dense-only evidence (no shared terms), 60 days on
    lexical_only = index_with(Member("pl-1", "pl", T0, DRONE, POLAND), settings=settings)
    dense_only = index_with(Member("pl-1", "pl", T0, DRONE, {"unrelated": 1}), settings=settings)
    later = T0 + timedelta(days=12)
    lex_now = lexical_only.assign(SHOOTING, POLAND, T0).score
    dense_now = dense_only.assign(DRONE, POLAND, T0).score
    assert lexical_only.assign(SHOOTING, POLAND, later).score / lex_now > 0.85
    assert dense_only.assign(DRONE, POLAND, later).score / dense_now < 0.6


@pytest.mark.parametrize("prune_min_members", [4096, 0])
def test_follow_up_months_later_is_not_held_back_by_time(prune_min_members: int) -> None:
    # an arrest or trial report comes months after the event: its headline says so, and the time decay is lifted
    settings = ClusterSettings(**{**SETTINGS.__dict__, "window_days": 400.0, "prune_min_members": prune_min_members})
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND), settings=settings)
    later = T0 + timedelta(days=90)
    charged = terms("Man charged over drones that crossed into Poland near Wyryki",
                    "Prosecutors charged a man over the Russian drones that crossed into Poland near Wyryki.")
    vector = unit(1.0, 0.1, 1.0, 0.0)  # a longer report on the charges: dense cosine 0.7 to the first one
    assert index.assign(vector, charged, later).incident_id is None
    assert index.assign(vector, charged, later, follow_up=True).incident_id == "pl"
    off = index_with(Member("pl-1", "pl", T0, DRONE, POLAND),
                     settings=ClusterSettings(**{**settings.__dict__, "follow_up_lift": 0.0}))
    assert off.assign(vector, charged, later, follow_up=True).incident_id is None


def test_follow_up_lift_needs_the_names_of_the_incident() -> None:
    # a trial report months later that names none of the incident's people or places: time still counts
    settings = ClusterSettings(**{**SETTINGS.__dict__, "window_days": 400.0})
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND), settings=settings)
    later = T0 + timedelta(days=90)
    other = terms("Man charged over drone flights near an airport",
                  "Prosecutors charged a man over drone flights that closed the Kastrup airport.")
    with_names = terms("Man charged over drones that crossed into Poland near Wyryki",
                       "Prosecutors charged a man over the Russian drones that crossed into Poland near Wyryki.")
    assert index.assign(DRONE, other, later, follow_up=True).score == index.assign(DRONE, other, later).score
    assert index.assign(DRONE, with_names, later, follow_up=True).score > index.assign(DRONE, with_names, later).score


def test_headline_naming_a_later_stage_of_a_story_is_a_follow_up() -> None:
    later = load_topic(SHIPPED_TOPIC).later_stage

    def is_follow_up(title: str, text: str = "", lead_words: int = 25) -> bool:
        return lexical_is_follow_up(title, text, later, lead_words=lead_words)

    for title in ("Man sentenced to 30 years in girl's killing", "Third suspect arrested in Hope Mills shooting",
                  "Jury finds gang member guilty of murder", "Accused shooter pleads not guilty",
                  "Judge declares mistrial in Crab Fest shooting", "Brothers to stand trial for January murders",
                  "Prozess gegen mutmaßlichen Schützen beginnt", "Sąd skazał sprawcę strzelaniny"):
        assert is_follow_up(title), title
    for title in ("Four shot outside Willowbrook apartment", "Police appeal for witnesses after shooting",
                  "Shots fired in a courtyard on Bailey Street", "Drones cross into Poland near Wyryki", ""):
        assert not is_follow_up(title), title
    # a headline that says little: the lead sentence decides, not the rest of the article
    lead = "Prosecutors said on Monday that the man accused of the Wyryki shooting will stand trial in May."
    assert is_follow_up("Wyryki update", lead)
    assert not is_follow_up("Wyryki update", lead, lead_words=0)
    assert not is_follow_up("Wyryki update", " ".join(["Police said a man was shot."] * 5 + [lead]))


def test_terms_keep_names_and_numbers_and_drop_stop_words() -> None:
    t = terms("Four shot in Akron", "AKRON, Ohio — Police said John Smith, 34, was shot on the porch.")
    assert t["akron"] >= 3
    assert ENTITY_PREFIX + "akron" in t
    assert ENTITY_PREFIX + "john smith" in t
    assert "34" in t
    assert "the" not in t and "was" not in t


def test_terms_work_for_non_english_latin_script() -> None:
    t = terms(
        "Drohnenalarm: Münchner Flughafen nimmt Betrieb wieder auf",
        "Nach den Drohnensichtungen am Flughafen München hat der Betrieb wieder begonnen.",
    )
    assert "münchner" in t and "flughafen" in t
    assert ENTITY_PREFIX + "flughafen münchen" in t
    assert "der" not in t and "den" not in t


def test_doc_freq_weights_are_unit_length_and_favour_rare_terms() -> None:
    df = DocFreq()
    for _ in range(10):
        df.add({"drone": 1})
    df.add({"drone": 1, "wyryki": 1})
    w = df.weights({"drone": 1, "wyryki": 1})
    assert sum(x * x for x in w.values()) == pytest.approx(1.0)
    assert w["wyryki"] > w["drone"]
    assert df.weights({}) == {}


def test_doc_freq_round_trips_through_rows() -> None:
    df = DocFreq()
    df.add({"drone": 2, "poland": 1})
    df.add({"drone": 1})
    back = DocFreq.from_rows(df.n_docs, df.to_rows())
    assert back.n_docs == 2
    assert back.df("drone") == 2 and back.df("poland") == 1 and back.df("missing") == 0
    assert back.weights({"drone": 1, "poland": 3}) == df.weights({"drone": 1, "poland": 3})


# ---------------------------------------------------------------- pruned scoring and a kept index

EXACT = ClusterSettings(full_words=0, prune_min_members=10**9)
PRUNED = ClusterSettings(full_words=0, prune_min_members=0, dense_candidates=4, lexical_candidate_rows=40)
"""Pruning forced on and made tight (4 dense candidates, 40 posting rows), so it leaves out most members."""

_COMMON = ("police", "said", "report", "people", "city", "official", "night", "attack", "border", "minister",
           "statement", "morning", "local", "region", "security", "army", "incident", "source", "week", "news")


def same_decision(got: Assignment, want: Assignment) -> bool:
    """Same incident to join or none; when joining, the same nearest member and score (up to rounding: terms are
    summed in another order). Below the threshold the pruned path may report a lesser best member."""
    if got.incident_id != want.incident_id:
        return False
    return want.incident_id is None or (got.nearest_key == want.nearest_key and got.score == pytest.approx(want.score))


def stream(n_incidents: int = 60, per_incident: int = 6, seed: int = 3) -> list[Member]:
    """A stream like the real one: incidents whose articles share a few rare names and many common words, e5-like
    vectors (every cosine high, same-incident ones a little higher), spread over weeks; in publication order."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(32)
    out = []
    for i in range(n_incidents):
        centre = base + 0.9 * rng.standard_normal(32)
        start = T0 + timedelta(hours=float(rng.uniform(0, 24 * 60)))
        names = [f"{ENTITY_PREFIX}place{i}", f"{ENTITY_PREFIX}person{i}", f"place{i}", f"street{i % 7}"]
        for j in range(per_incident):
            vector = centre + 0.6 * rng.standard_normal(32)
            picked = rng.choice(len(_COMMON), size=8, replace=False)
            article_terms = {_COMMON[k]: int(rng.integers(1, 4)) for k in picked}
            for name in names[: int(rng.integers(1, len(names) + 1))]:
                article_terms[name] = int(rng.integers(1, 3))
            when = start + timedelta(hours=float(rng.exponential(30.0)))
            out.append(Member(f"a{i}-{j}", "", when, (vector / np.linalg.norm(vector)).astype(np.float32),
                              article_terms))
    return sorted(out, key=lambda m: (m.published_at, m.key))


def test_pruned_path_makes_the_same_decisions_as_scoring_every_member() -> None:
    exact, pruned = IncidentIndex(EXACT, DocFreq()), IncidentIndex(PRUNED, DocFreq())
    joined = 0
    for article in stream():
        want = exact.assign(article.vector, article.terms, article.published_at)
        got = pruned.assign(article.vector, article.terms, article.published_at)
        assert same_decision(got, want), article.key
        joined += want.incident_id is not None
        incident = want.incident_id or article.key
        for index in (exact, pruned):
            index.add(Member(article.key, incident, article.published_at, article.vector, article.terms))
    assert 100 < joined < len(exact) - 30  # the stream both joins and opens incidents


def test_pruned_path_scores_whole_incidents_when_averaging_top_k() -> None:
    settings = ClusterSettings(**{**EXACT.__dict__, "top_k": 2, "threshold": 0.4})
    exact = IncidentIndex(settings, DocFreq())
    pruned = IncidentIndex(ClusterSettings(**{**PRUNED.__dict__, "top_k": 2, "threshold": 0.4}), DocFreq())
    for article in stream(n_incidents=30):
        want = exact.assign(article.vector, article.terms, article.published_at)
        assert same_decision(pruned.assign(article.vector, article.terms, article.published_at), want), article.key
        for index in (exact, pruned):
            index.add(Member(article.key, want.incident_id or article.key, article.published_at, article.vector,
                             article.terms))


def test_bulk_restore_weighs_terms_exactly_like_adding_one_by_one() -> None:
    members = [Member(m.key, m.key.split("-")[0], m.published_at, m.vector, m.terms) for m in stream()]
    doc_freq = DocFreq()
    for m in members:
        doc_freq.add(m.terms)
    one_by_one = IncidentIndex(EXACT, doc_freq)
    for m in members:
        one_by_one.add(m, count_terms=False)
    bulk = IncidentIndex(EXACT, doc_freq)
    assert bulk.extend(members) == len(members)
    for probe in stream(n_incidents=10, seed=9):
        assert bulk.assign(probe.vector, probe.terms, probe.published_at) == one_by_one.assign(
            probe.vector, probe.terms, probe.published_at)


def test_kept_index_is_extended_with_only_the_members_it_lacks() -> None:
    rows = list(stream())
    doc_freq = DocFreq()
    for row in rows:
        doc_freq.add(row.terms)
    kept = build_index(PRUNED, doc_freq, rows[:200])
    assert len(kept) == 200 and rows[0].key in kept and rows[250].key not in kept
    again = build_index(PRUNED, doc_freq, rows, index=kept)  # the next cycle reads every member again
    assert again is kept
    assert len(kept) == len(rows) and rows[250].key in kept
    assert list(kept.keys()) == [row.key for row in rows]
    fresh = build_index(PRUNED, doc_freq, rows)
    for probe in stream(n_incidents=10, seed=9):
        assert kept.assign(probe.vector, probe.terms, probe.published_at) == fresh.assign(
            probe.vector, probe.terms, probe.published_at)
    with pytest.raises(ValueError, match="other cluster settings"):
        build_index(EXACT, doc_freq, rows, index=kept)


def test_a_member_cannot_be_added_twice() -> None:
    index = index_with(Member("pl-1", "pl", T0, DRONE, POLAND))
    with pytest.raises(ValueError, match="already"):
        index.add(Member("pl-1", "pl", T0, DRONE, POLAND))
    assert index.extend([Member("pl-1", "pl", T0, DRONE, POLAND)]) == 0


def test_pruned_path_still_excludes_members_outside_the_window() -> None:
    settings = ClusterSettings(**{**SETTINGS.__dict__, "prune_min_members": 0, "dense_candidates": 1})
    old = Member("pl-old", "pl-old", T0 - timedelta(days=SETTINGS.window_days + 1), DRONE, POLAND)
    weaker = Member("pl-new", "pl-new", T0, unit(1.0, 0.4, 0.0, 0.0), POLAND)
    index = index_with(old, settings=settings)
    assert index.assign(DRONE, POLAND, T0) == Assignment(None, 0.0, None)
    index.add(weaker)
    assert index.assign(DRONE, POLAND, T0).nearest_key == "pl-new"  # the exact copy is too old to count


def test_members_added_after_the_dense_index_was_built_are_candidates() -> None:
    settings = ClusterSettings(**{**PRUNED.__dict__, "lexical_candidate_rows": 0})  # dense candidates only
    members = stream()
    index = IncidentIndex(settings, DocFreq())
    for m in members[:-1]:
        index.add(Member(m.key, m.key, m.published_at, m.vector, m.terms))
    index.prepare()
    last = members[-1]
    index.add(Member(last.key, last.key, last.published_at, last.vector, last.terms))
    assert index.nearest_keys(last.vector, 1) == [last.key]
    assert index.assign(last.vector, last.terms, last.published_at).nearest_key == last.key


def test_pruned_path_finds_a_candidate_whose_evidence_is_common_words() -> None:
    # 40 dense candidates, scored a chunk at a time in order of their upper bound: the one sharing the query's
    # (common) words is the least similar by vector, so only a bound that counts common words reaches it
    settings = ClusterSettings(**{**SETTINGS.__dict__, "prune_min_members": 0, "dense_candidates": 40,
                                  "lexical_candidate_rows": 0})
    index = index_with(settings=settings)
    for i in range(39):
        index.add(Member(f"near-{i}", f"near-{i}", T0, unit(1.0, 0.30 + 0.001 * i, 0.0, 0.0), {"unrelated": 1}))
    index.add(Member("words", "words", T0, unit(1.0, 0.40, 0.0, 0.0), POLAND))
    assert index.assign(DRONE, POLAND, T0).nearest_key == "words"


def test_look_alike_naming_none_of_the_incidents_own_names_is_held_apart() -> None:
    # same kind of event, same wording, close vector: only the names (the incident's own, held by no other
    # incident) tell that this is another event, not a follow-up
    settings = ClusterSettings(**{**SETTINGS.__dict__, "conflict_penalty": 0.9, "conflict_names": 2})
    without = ClusterSettings(**{**SETTINGS.__dict__, "conflict_penalty": 1.0})
    near = unit(1.0, 1.0, 0.0, 0.0)  # cosine 0.71: close enough to join on the shared wording alone
    look_alike = terms(
        "Drones cross border, jets scrambled",
        "Jets scrambled after drones crossed the border overnight; debris fell near a farm in Kowale.",
    )
    follow_up = terms(
        "Drones cross border, jets scrambled",
        "Jets scrambled after drones crossed the border overnight; debris fell near Wyryki.",
    )
    held = index_with(Member("pl-1", "pl", T0, DRONE, POLAND), settings=settings)
    plain = index_with(Member("pl-1", "pl", T0, DRONE, POLAND), settings=without)
    later = T0 + timedelta(days=1)
    assert plain.assign(near, look_alike, later).incident_id == "pl"
    a = held.assign(near, look_alike, later)
    assert a.incident_id is None
    assert a.score == pytest.approx(0.9 * plain.assign(near, look_alike, later).score)
    assert held.assign(near, follow_up, later).incident_id == "pl"  # one own name is enough


def test_names_shared_with_another_incident_are_not_an_incidents_own() -> None:
    settings = ClusterSettings(**{**SETTINGS.__dict__, "conflict_penalty": 0.9, "conflict_names": 2})
    # a second incident names the same places, so "pl" has no names of its own and nothing can conflict
    other = terms(
        "Drones cross into Poland again",
        "Polish jets scrambled after Russian drones crossed into Poland again; debris fell near Wyryki.",
    )
    index = index_with(
        Member("pl-0", "pl-old", T0 - timedelta(days=13), SHOOTING, other),
        Member("pl-1", "pl", T0, DRONE, POLAND),
        settings=settings,
    )
    look_alike = terms(
        "Drones cross border, jets scrambled",
        "Jets scrambled after drones crossed the border overnight; debris fell near a farm in Kowale.",
    )
    assert index.assign(unit(1.0, 1.0, 0.0, 0.0), look_alike, T0 + timedelta(days=1)).incident_id == "pl"


def test_conflict_penalty_must_be_a_factor() -> None:
    with pytest.raises(ValueError, match="conflict_penalty"):
        ClusterSettings(conflict_penalty=1.5)
