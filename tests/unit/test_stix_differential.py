"""The exchange's own STIX validation gives stix2-validator's verdicts (default options):
every object stix2-validator refuses, the exchange refuses; every one it accepts, the
exchange accepts. Over stix2-validator's and stix2-patterns' own test corpora
(tests/assets/, extracted by bench/extract_corpora.py) and generated objects and patterns.
A longer run: bench/validate_differential.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.stix.validate import stix_error, structure_error
from tests import stix_generators as gen

CORPUS = gen.corpus_objects()
PATTERNS = gen.corpus_patterns()
# generated runs are bounded to a few seconds each (stix2-validator takes ~3 ms an object)
EXAMPLES = 150


def _disagreement(value: dict[str, Any]) -> str | None:
    reference = gen.reference_accepts(value)
    fast = gen.fast_accepts(value)
    if fast is not None and fast != reference:
        return f"stix2-validator {'accepts' if reference else 'refuses'}, fast {fast}: {value}"
    # the entry point as the publish pipeline calls it
    if (stix_error(value, "fast") is None) != reference:
        return f"stix_error disagrees with stix2-validator on {value}"
    return None


def test_corpus_has_both_verdicts() -> None:
    verdicts = [gen.reference_accepts(o) for o in CORPUS]
    assert len(CORPUS) > 500
    assert 150 < sum(verdicts) < len(CORPUS) - 100  # plenty of valid and invalid objects


def test_corpus_objects_same_verdicts() -> None:
    problems = [p for p in map(_disagreement, CORPUS) if p is not None]
    assert problems == []
    # the fast validator judges nearly all of them itself
    handed_over = [o["type"] for o in CORPUS if gen.fast_accepts(o) is None]
    assert len(handed_over) <= 10, handed_over


def test_corpus_patterns_same_verdicts() -> None:
    wrong = [
        (p, gen.reference_pattern_ok(p))
        for p in PATTERNS
        if gen.fast_pattern_ok(p) != gen.reference_pattern_ok(p)
    ]
    assert wrong == []
    assert sum(map(gen.reference_pattern_ok, PATTERNS)) > 40


def test_corpus_patterns_in_indicators_same_verdicts() -> None:
    problems = [_disagreement(gen.indicator(p)) for p in PATTERNS]
    assert [p for p in problems if p] == []


@pytest.mark.parametrize(
    "text",
    [
        "[file:hashes[0] = 'x']",  # stix2-patterns fails with an exception
        "[file:name[-1] = 'x']",
        "",
        "   ",
        "/* c */ [file:name = 'x']",
        "[file:name = 'x'] WITHIN 1 SECONDS WITHIN 2 SECONDS",
        "([file:name = 'x']) WITHIN 1 SECONDS WITHIN 2 SECONDS",
        "[file:hashes.MD6 = '" + "a" * 40 + "']",
        "[file:hashes.'SHA-256' = 'a']",
        "[x:'ab\\\\c' = 1]",
        "[file:name = 'x' AND-x]",
        "[a:b = true] AND [a:b = TRUE]",
        "[ab:cd = h'0'] ",
        "[ab:cd = b'YQ=='] // done",
        "[ab:cd LAST 1]",
    ],
)
def test_awkward_patterns(text: str) -> None:
    assert gen.fast_pattern_ok(text) == gen.reference_pattern_ok(text)
    assert _disagreement(gen.indicator(text)) is None


@pytest.mark.parametrize(
    ("created", "modified"),
    [
        ("2016-04-06T20:03:48.524Z", "2016-04-06T20:03:49.1234567Z"),  # 7 decimals: as text
        ("2016-04-06T20:03:48.524Z", "2016-04-06T20:03:48.1234567Z"),
        ("2016-04-06T20:03:48.524Z", "2016-04-06T20:03:48.5Z"),
        ("2016-04-06T20:03:48.524Z", "2016-04-06T20:03:48.524000Z"),
        ("2015-02-29T00:00:00.000Z", "2015-03-01T00:00:00.000Z"),  # no such day: as text
        ("2016-04-06T20:03:60.000Z", "2016-04-06T20:03:59.000Z"),
        ("2016-04-06T20:03:48Z", "2016-04-06T20:03:48.000Z"),
    ],
)
def test_timestamp_orders(created: str, modified: str) -> None:
    for first, second in ((created, modified), (modified, created)):
        value = gen.indicator("[file:name = 'x']", created=first, modified=second)
        assert _disagreement(value) is None
        value = gen.indicator("[file:name = 'x']", valid_from=first, valid_until=second)
        assert _disagreement(value) is None


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(gen.patterns())
def test_generated_patterns_same_verdicts(text: str) -> None:
    fast = gen.fast_pattern_ok(text)
    if fast is not None:
        assert fast == gen.reference_pattern_ok(text), text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_generated_objects_same_verdicts(data: st.DataObject) -> None:
    value = data.draw(gen.objects(CORPUS))
    if structure_error(value) is None:
        assert _disagreement(value) is None


def test_deep_patterns_go_to_stix2_patterns() -> None:
    deep = "(" * 40 + "[file:name = 'x']" + ")" * 40
    assert gen.fast_pattern_ok(deep) is None  # TooComplex: the library decides
    assert _disagreement(gen.indicator(deep)) is None


def test_a_huge_pattern_is_left_to_stix2_patterns() -> None:
    from exchange.stix import pattern as stix_pattern

    # the tokenizer stops at MAX_TOKENS (it does not read 2.8 MB to the end)
    with pytest.raises(stix_pattern.TooComplex):
        stix_pattern.parse("[a:b = 1] AND " * 200_000 + "[a:b = 1]")
