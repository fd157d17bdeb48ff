"""Choosing the model a search returns: its best candidates scored again, the simplest kept.

The search's best cross-validated score is biased upwards: of many noisy estimates
the largest wins, and on small tables the winner is often a flexible model that was
lucky on those five folds. The quick start on breast cancer chose an MLP at CV F1
0.988 whose holdout accuracy was 0.939, where a default scaled logistic regression
scores 0.974. So the search's best trial of each algorithm (those within three
standard errors of the best), and the default baseline, are scored again by
repeated k-fold on new shuffles, and the rule picks
the simplest candidate whose mean is within one standard error of the best mean
(Breiman et al.'s one-standard-error rule; "simplest" is the catalogue's
``complexity`` order, linear < SVM < forest < boosting < MLP).

This module holds the rule alone (plain numbers in, a decision out), so a test can
drive it with made-up scores; ``search`` runs the re-scoring.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Candidate", "Selection", "choose"]

RULE = "one-standard-error"


@dataclass
class Candidate:
    """One trial scored again; ``scores`` are per fold, in the metric's own sense."""

    trial: int
    algorithm: str
    complexity: tuple[int, int]  # (catalogue complexity, 1 if a PCA runs in front)
    search_score: float
    scores: list[float] = field(default_factory=list)
    baseline: bool = False  # the task's default model (scaled logistic / ridge)
    skipped: str = ""  # why it was not scored again (the time budget)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else math.nan

    @property
    def se(self) -> float:
        """Standard error of the mean over the folds (0 with a single fold)."""
        n = len(self.scores)
        return float(np.std(self.scores, ddof=1) / math.sqrt(n)) if n > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("scores")
        out["complexity"] = list(self.complexity)
        out["mean"] = None if math.isnan(self.mean) else self.mean
        out["se"] = self.se
        out["folds"] = len(self.scores)
        return out


@dataclass
class Selection:
    """What the rule did: recorded with the run and the version (``metrics["selection"]``)."""

    rule: str
    chosen: int  # trial number
    candidates: list[Candidate] = field(default_factory=list)
    best: int | None = None  # the trial with the best mean, when it is not the chosen one
    threshold: float | None = None  # best mean minus (or, lower-is-better, plus) one SE
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "chosen": self.chosen,
            "best": self.best,
            "threshold": self.threshold,
            "note": self.note,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def choose(candidates: list[Candidate], greater_is_better: bool) -> Selection:
    """The simplest scored candidate within one standard error of the best mean.

    Candidates not scored again (``skipped``) take no part. With none scored, the
    first candidate (the search's best) is kept.
    """
    scored = [c for c in candidates if c.scores]
    if not scored:
        return Selection("search-best", candidates[0].trial, candidates, note="none scored again")
    sign = 1.0 if greater_is_better else -1.0
    best = max(scored, key=lambda c: sign * c.mean)
    threshold = best.mean - sign * best.se
    close = [c for c in scored if sign * c.mean >= sign * threshold]
    chosen = min(close, key=lambda c: (c.complexity, -sign * c.mean))
    return Selection(
        RULE,
        chosen.trial,
        candidates,
        best=best.trial if best is not chosen else None,
        threshold=threshold,
    )
