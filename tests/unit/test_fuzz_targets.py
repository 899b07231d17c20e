"""The fuzz targets of tests/fuzz_targets.py, briefly (bench/fuzz.py runs them for long):
hypothesis, derandomized and bounded. Each input is any bytes, or bytes that steer
``hostile_document`` to one of its shapes; a target raising anything but its domain errors
fails here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_targets import TARGETS, hostile_document

# A shape byte, a placement byte, then whatever follows: every shape is reached early.
steered = st.builds(
    lambda shape, where, rest: bytes([shape, where]) + rest,
    st.integers(0, 9),
    st.integers(0, 2),
    st.binary(max_size=64),
)
inputs = steered | st.binary(max_size=128)
EXAMPLES = 60


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target(name: str) -> None:
    target: Callable[[bytes], None] = TARGETS[name]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(inputs)
    def run(data: bytes) -> None:
        target(data)

    run()


def test_every_shape_is_reachable() -> None:
    starts = {hostile_document(bytes([shape, 0, 1, 0, 0]))[:1] for shape in range(10)}
    assert len(starts) >= 4  # deep, strings, arrays, objects… not all one shape
