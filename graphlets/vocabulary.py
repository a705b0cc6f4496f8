"""The words of model graphlets, defined once (study.md, "Model graphlet" and "Cost and waste").

graphlets/build.sql writes these values into ``graphlet_members.role`` and the ``reason``
column of ``graphlets``; :func:`mlprov.analysis.frames.graphlet_frame` gives each graphlet its
:class:`Outcome`.
Both enums are ``str`` enums, so they compare equal to the text in the tables and frames.

Example:
    >>> Role.ANCHOR == "anchor", Outcome("in_flight").label
    (True, 'in flight')
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """Why a node belongs to a graphlet, in the order a graphlet is read."""

    UPSTREAM = "upstream"  # work the trainer's inputs came from
    ANCHOR = "anchor"  # the training execution
    DOWNSTREAM = "downstream"  # work on the trained model: validation, push
    SIDE = "side"  # work reading the graphlet's data that feeds no trainer (statistics, ...)
    BOUNDARY = "boundary"  # an artifact where the walk stopped (another graphlet's model, ...)


class Outcome(str, Enum):
    """What became of a graphlet's model as of the analysis time. A graphlet whose trainer was
    left RUNNING too long to ever finish is *abandoned*: unpushed (it never will push), with
    its ``abandoned`` flag and reason set."""

    PUSHED = "pushed"
    UNPUSHED = "unpushed"  # finished, or abandoned, without a push: its work is wasted
    IN_FLIGHT = "in_flight"  # the trainer is still RUNNING: it may still push

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


#: Why a graphlet did or did not push (the ``reason`` column), as a sentence. ``abandoned``
#: comes only from analyses, which tell it from ``in_flight`` as of a time.
REASONS = {
    "pushed": "pushed",
    "in_flight": "in flight: the trainer is still running",
    "abandoned": "abandoned: the trainer was left running and will never finish",
    "trainer_failed": "the trainer failed",
    "cut_before_evaluation": "cut before evaluation: no validation finished and no push ran",
    "not_blessed": "not blessed: validation rejected the model",
    "push_failed": "blessed, but the push failed",
    "push_skipped": "push skipped: no push ran, or it ran and did not push",
}

#: The graphlet tables a user's export holds (the others are the builder's bookkeeping).
EXPORTED_TABLES = ("graphlets", "graphlet_members")
