"""Energy use of a run, measured with codecarbon offline (no network); never fails the run."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger(__name__)


class EnergyMeter:
    """``kwh`` holds the energy consumed inside ``measure()``, or None where power could not be read."""

    def __init__(self, country_iso_code: str = "USA", measure_power_secs: float = 15.0) -> None:
        self.country_iso_code = country_iso_code
        self.measure_power_secs = measure_power_secs
        self.kwh: float | None = None

    @contextmanager
    def measure(self) -> Iterator["EnergyMeter"]:
        tracker = self._start()
        try:
            yield self
        finally:
            self.kwh = self._stop(tracker)

    def _start(self):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from codecarbon import OfflineEmissionsTracker

                # Its constructor logs before it applies log_level ("offline tracker init", a note on
                # allow_multiple_runs): quiet the logger first.
                logging.getLogger("codecarbon").setLevel(logging.ERROR)
                tracker = OfflineEmissionsTracker(
                    country_iso_code=self.country_iso_code,
                    measure_power_secs=self.measure_power_secs,
                    save_to_file=False,
                    log_level="error",
                    allow_multiple_runs=True,
                )
                tracker.start()
            return tracker
        except Exception as err:  # codecarbon fails in many platform-specific ways; energy is optional
            log.warning("energy tracking unavailable (%s); metrics.json will report energy_kwh: null", err)
            return None

    @staticmethod
    def _stop(tracker) -> float | None:
        if tracker is None:
            return None
        try:
            tracker.stop()
            return float(tracker.final_emissions_data.energy_consumed)
        except Exception as err:
            log.warning("energy tracking failed at stop (%s)", err)
            return None
