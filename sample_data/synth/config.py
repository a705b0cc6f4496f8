"""Configuration of the TFX-shaped corpus generator, and its presets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Everything random derives from ``seed``; nothing reads the clock.

    Attributes:
        pipelines: number of pipelines.
        days: length of the observed window in days.
        seed: seed of every random draw (pipeline ``i`` uses ``SeedSequence([seed, i])``).
        start: first day of the window, ISO date, UTC midnight.
        cadence_hours: candidate span periods (hours between ExampleGen runs).
        cadence_weights: their probabilities (normalized).
        full_life_share: share of pipelines alive for the whole window.
        pipeline_root: prefix of artifact URIs.
    """

    pipelines: int = 25
    days: int = 60
    seed: int = 0
    start: str = "2025-01-06"
    cadence_hours: tuple[float, ...] = (1.0, 3.0, 6.0, 12.0, 24.0, 168.0)
    cadence_weights: tuple[float, ...] = (0.05, 0.08, 0.15, 0.2, 0.37, 0.15)
    full_life_share: float = 0.3
    pipeline_root: str = "/pipelines"

    def __post_init__(self) -> None:
        if self.pipelines < 1 or self.days < 1:
            raise ValueError(
                f"pipelines and days must be at least 1, got {self.pipelines} and {self.days}"
            )
        if len(self.cadence_hours) != len(self.cadence_weights) or not self.cadence_hours:
            raise ValueError("cadence_hours and cadence_weights must be non-empty, same length")
        if min(self.cadence_hours) <= 0 or min(self.cadence_weights) < 0:
            raise ValueError("cadences must be positive and weights non-negative")
        if not 0.0 <= self.full_life_share <= 1.0:
            raise ValueError(f"full_life_share must be in [0, 1], got {self.full_life_share}")
        _ = self.start_ms  # validates the date

    @property
    def start_ms(self) -> int:
        """Window start in milliseconds since the epoch."""
        day = dt.date.fromisoformat(self.start)
        return int(
            dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000
        )

    @property
    def end_ms(self) -> int:
        """Window end (exclusive) in milliseconds since the epoch."""
        return self.start_ms + self.days * 86_400_000


#: ``sample``: the committed sample store (a few MB); ``paper``: the study's scale
#: (3,000 pipelines, 120 days, ~450,000 trainer executions).
PRESETS: dict[str, SynthConfig] = {
    "sample": SynthConfig(
        pipelines=20,
        days=60,
        seed=17,
        cadence_hours=(24.0, 48.0, 168.0),
        cadence_weights=(0.3, 0.3, 0.4),
    ),
    "paper": SynthConfig(pipelines=3000, days=120, seed=2021),
}
