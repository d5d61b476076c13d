"""KSSTATE: the stream states of ks.h, shared by IMXF::SetState (host.mxf) and AVStream pins
(host.avstream); standard pins move one step at a time, STOP <-> ACQUIRE <-> PAUSE <-> RUN."""

from __future__ import annotations

import enum


class KsState(enum.IntEnum):
    """KSSTATE as ks.h numbers it."""

    STOP = 0
    ACQUIRE = 1
    PAUSE = 2
    RUN = 3


# Module-level aliases for hot paths (see host.ks.status).
KSSTATE_STOP = KsState.STOP
KSSTATE_ACQUIRE = KsState.ACQUIRE
KSSTATE_PAUSE = KsState.PAUSE
KSSTATE_RUN = KsState.RUN
