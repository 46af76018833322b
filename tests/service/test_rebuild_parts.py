"""Rebuilds on their own: when a refit is due, where it runs, and that a failed one
keeps the model in force."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.errors import InvalidInputError, StorageError
from linkage.pki import Principal
from linkage.service import LinkageSettings, NullObserver, ServiceLimits, cross_agency_greedy
from linkage.service._clock import system_clock_us
from linkage.service._linking import Linking
from linkage.service._rebuild import MATCHER_ACTOR, Rebuilds
from linkage.service._state import ServiceState
from linkage.store import LinkageRunRow, SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS
from tests.service.prob_factory import SEGMENTED_BITS, with_probabilistic

pytestmark = pytest.mark.unit


class RecordingRebuilds(Rebuilds):
    """Rebuilds whose rebuild only records who asked and why (and can be held)."""

    def __init__(self, state: ServiceState) -> None:
        super().__init__(state, Linking(state, cross_agency_greedy, None))
        self.calls: list[tuple[str, str, str]] = []
        self.release = threading.Event()
        self.release.set()
        self.fail = False

    def rebuild(self, actor: Principal | str, reason: str) -> LinkageRunRow:
        self.release.wait(10)
        self.calls.append((str(actor), reason, threading.current_thread().name))
        if self.fail:
            raise RuntimeError("the fit blew up")
        return LinkageRunRow(0, 0, 0, 0, 0, 0, 0, 0.5, reason, "{}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLinkStore]:
    opened = SqliteLinkStore(tmp_path / "rebuild.db")
    yield opened
    opened.close()


def _state(store: SqliteLinkStore, settings: LinkageSettings) -> ServiceState:
    return ServiceState(store, settings, ServiceLimits(), system_clock_us, NullObserver())


def _hold(state: ServiceState, count: int) -> None:
    start = len(state.mirror)
    state.mirror.add(
        list(range(start, start + count)),
        [secrets.token_bytes(SEGMENTED_BITS // 8) for _ in range(count)],
    )


def test_a_refit_is_due_at_min_fit_records_then_at_each_growth(store: SqliteLinkStore) -> None:
    state = _state(store, with_probabilistic(min_fit_records=10, refit_growth=2.0))
    rebuilds = Rebuilds(state, Linking(state, cross_agency_greedy, None))
    _hold(state, 9)
    assert rebuilds.refit_due() is None
    _hold(state, 1)
    assert rebuilds.refit_due() == (
        "automatic refit: 10 linkable records, the shipped prior model until now"
    )
    state.fit_records = 10
    _hold(state, 9)
    assert rebuilds.refit_due() is None
    _hold(state, 1)
    assert rebuilds.refit_due() == "automatic refit: 20 linkable records, 10 at the last fit"


def test_no_refit_is_due_in_dice_mode_or_with_auto_refit_off(store: SqliteLinkStore) -> None:
    for settings in (SETTINGS, with_probabilistic(min_fit_records=2, auto_refit=False)):
        state = _state(store, settings)
        if settings.probabilistic is not None:
            _hold(state, 5)
        assert Rebuilds(state, Linking(state, cross_agency_greedy, None)).refit_due() is None


def test_small_indexes_refit_in_the_call_large_ones_in_one_background_thread(
    store: SqliteLinkStore,
) -> None:
    state = _state(
        store, with_probabilistic(min_fit_records=2, refit_growth=2.0, background_refit_above=4)
    )
    rebuilds = RecordingRebuilds(state)
    _hold(state, 3)
    rebuilds.refit_if_due()
    assert [(actor, thread) for actor, _, thread in rebuilds.calls] == [
        (MATCHER_ACTOR, threading.current_thread().name)
    ]
    _hold(state, 2)  # 5 records: above background_refit_above
    rebuilds.release.clear()
    rebuilds.refit_if_due()
    rebuilds.refit_if_due()  # one at a time: the running refit is not doubled
    rebuilds.release.set()
    rebuilds.wait_for_refit(10)
    assert [thread for *_, thread in rebuilds.calls] == [
        threading.current_thread().name,
        "linkage-refit",
    ]


def test_a_failed_refit_is_logged_and_ingest_goes_on(
    store: SqliteLinkStore, caplog: pytest.LogCaptureFixture
) -> None:
    state = _state(store, with_probabilistic(min_fit_records=2))
    rebuilds = RecordingRebuilds(state)
    rebuilds.fail = True
    _hold(state, 2)
    with caplog.at_level(logging.ERROR, logger="linkage.service"):
        rebuilds.refit_if_due()
    assert "the automatic refit failed; the model in force is kept" in caplog.text


def test_a_rebuild_reason_is_at_most_500_characters(store: SqliteLinkStore) -> None:
    state = _state(store, SETTINGS)
    rebuilds = Rebuilds(state, Linking(state, cross_agency_greedy, None))
    with pytest.raises(InvalidInputError, match="invalid rebuild"):
        rebuilds.rebuild(OPERATOR, "x" * 501)
    run = rebuilds.rebuild(OPERATOR, "empty")
    assert (run.run_id, run.record_count, run.link_count) == (1, 0, 0)
    assert [row.action for row in store.iter_audit()] == ["linkage.rebuild"]


class StatisticsStore(SqliteLinkStore):
    """A real SQLite store that counts the statistics refreshes asked of it (and can fail
    them, as a PostgreSQL role that does not own the tables would)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.refreshes = 0
        self.fail = False

    def refresh_statistics(self) -> None:
        self.refreshes += 1
        if self.fail:
            raise StorageError("must be owner of table records")


def test_a_rebuild_refreshes_the_stores_statistics_and_survives_a_failed_refresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    statistics_store = StatisticsStore(tmp_path / "stats.db")
    try:
        state = _state(statistics_store, SETTINGS)
        rebuilds = Rebuilds(state, Linking(state, cross_agency_greedy, None))
        rebuilds.rebuild(OPERATOR, "first")
        assert statistics_store.refreshes == 1
        statistics_store.fail = True
        with caplog.at_level(logging.WARNING, logger="linkage.service"):
            run = rebuilds.rebuild(OPERATOR, "second")
        assert run.run_id == 2  # committed before the refresh was asked for
        assert statistics_store.refreshes == 2
        assert "statistics were not refreshed: must be owner of table records" in caplog.text
    finally:
        statistics_store.close()
