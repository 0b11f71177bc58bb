"""A run's status: one enum, and the groups of statuses the code asks about. The trainer ends a run with one of
these, the run store keeps it, the pages colour it; a status is never spelled as a string anywhere else.
``status.label`` is how a page or the CLI shows it, in the reader's language."""

from __future__ import annotations

from enum import StrEnum

from nin_core.i18n import N_, _


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for its device
    RUNNING = "running"
    FINISHED = "finished"  # trained all its epochs
    STOPPED = "stopped"  # asked to stop (Stop, Ctrl-C, cancelled while queued)
    DIVERGED = "diverged"  # the loss became inf or nan
    STALLED = "stalled"  # every class map died, or a whole first epoch at chance level
    FAILED = "failed"  # an error (bad data, out of memory, a crash)
    INTERRUPTED = "interrupted"  # its process died (killed, machine restarted); found so by the next reader
    PRUNED = "pruned"  # a search's trial stopped early by its pruner: its validation accuracy was behind the others'


    @property
    def label(self) -> str:
        """The status as a person reads it, in the current language (the value stays the stored, English word)."""
        return _(_LABELS[self])


_LABELS = {RunStatus.QUEUED: N_("queued"), RunStatus.RUNNING: N_("running"), RunStatus.FINISHED: N_("finished"),
           RunStatus.STOPPED: N_("stopped"), RunStatus.DIVERGED: N_("diverged"), RunStatus.STALLED: N_("stalled"),
           RunStatus.FAILED: N_("failed"), RunStatus.INTERRUPTED: N_("interrupted"), RunStatus.PRUNED: N_("pruned")}

ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
# Ended by training itself: training the same configuration again gives the same end.
ENDED_BY_TRAINING = frozenset({RunStatus.FINISHED, RunStatus.STALLED, RunStatus.DIVERGED})
# Runs whose checkpoint is a model someone meant to keep.
PREDICTABLE = frozenset({RunStatus.FINISHED, RunStatus.STOPPED})
# Runs that can train on from their checkpoint.
CONTINUABLE = frozenset({RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FINISHED, RunStatus.PRUNED})
PROBLEMS = frozenset({RunStatus.DIVERGED, RunStatus.STALLED, RunStatus.FAILED, RunStatus.INTERRUPTED})
