"""The collector settings Hippo's processes run with (shared/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hippo.shared.gc_tuning import YOUNG_THRESHOLD, tune_for_service


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_freezes_what_exists_and_raises_only_the_young_threshold(collector: None) -> None:
    older = gc.get_threshold()[1:]
    tune_for_service()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *older)
