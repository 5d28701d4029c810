"""Hypothesis strategies for malformed but well-signed payloads (tests of hostile input)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# 150 a test in the suite; the figure (500 an endpoint) is one run with
# REPLYLOOP_TEST_FUZZ_EXAMPLES=500.
EXAMPLES = int(os.environ.get("REPLYLOOP_TEST_FUZZ_EXAMPLES", "150"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # each example is an HTTP round trip to a real server
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def some_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with some of `fields`, each a well-formed value or any JSON value."""
    return st.fixed_dictionaries(
        {}, optional={name: value | JSON for name, value in fields.items()}
    )
