"""The root of the rig's exceptions: every error the rig raises derives from RigError (links, client,
targets, tools, measurements), and each also inherits the built-in a caller would naturally catch."""

from __future__ import annotations


class RigError(Exception):
    """Base of every error the rig raises."""


class TargetError(RigError, RuntimeError):
    """A target could not be chosen, opened or used; the message names the target and why."""


class UnknownTargetError(TargetError, ValueError):
    """A --rig string names no known kind of target."""


class CapabilityMissing(TargetError):
    """The target lacks a capability a test or command needs (the message says which and why)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, timeout(1), a cancelled CI job) during a `rig` command: taken as a Ctrl-C, so an
    interrupted run still writes its reports, marked interrupted, and closes what it opened."""
