"""The unchecked allocator's PutMessage fast paths, generated from `event.ZEROED`.

Returning an event means writing every field of `ZEROED` back to its zero value. The fast paths do
that inline, once per event, because a call per event costs about as much as the reset itself (a
measured 50 % on a GetMessage+PutMessage cycle); so the statements are generated from the one
table, as `dataclasses` generates `__init__`, instead of being written out in each path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from host.ks.status import NtStatus
from host.mxf.event import ZEROED, KernelEvent

PutMessage = Callable[[KernelEvent | None], NtStatus]
PutSingleMessages = Callable[[Iterable[KernelEvent]], NtStatus]
MakeFastPuts = Callable[
    [Callable[[KernelEvent], None], PutMessage, int, int, NtStatus],
    tuple[PutMessage, PutSingleMessages, PutMessage],
]


def release_statements(var: str, indent: int, known_zero: tuple[str, ...] = ()) -> str:
    """Source lines that give `var` back to the free list: every ZEROED field reset (but those in
    `known_zero`, which the path has checked are zero already), its put counted, then `append(var)`."""
    pad = " " * indent
    lines = [f"{pad}{var}.{name} = {value!r}" for name, value in ZEROED if name not in known_zero]
    lines += [f"{pad}{var}._puts += 1", f"{pad}append({var})"]
    return "\n".join(lines)


_SOURCE = f'''
def make_fast_puts(append, put_chain, inline, package_flag, success):
    def put_message(evt):
        if evt is not None and evt.p_next_evt is None and evt.cb_event <= inline \\
                and not evt.us_flags & package_flag:
            # One event with inline data: the common case, kept lean.
{release_statements("evt", 12, known_zero=("p_next_evt",))}
            return success
        return put_chain(evt)

    def put_single_messages(events):
        for evt in events:
{release_statements("evt", 12, known_zero=("p_next_evt", "us_flags"))}
        return success

    def release_chain(evt):
        while evt is not None:
            nxt = evt.p_next_evt
{release_statements("evt", 12)}
            evt = nxt
        return success

    return put_message, put_single_messages, release_chain
'''


def _compile() -> MakeFastPuts:
    namespace: dict[str, object] = {}
    exec(compile(_SOURCE, f"<{__name__} generated from event.ZEROED>", "exec"), namespace)
    make: MakeFastPuts = namespace["make_fast_puts"]  # type: ignore[assignment]
    return make


make_fast_puts: MakeFastPuts = _compile()
"""make_fast_puts(append, put_chain, inline, package_flag, success) -> (put_message, put_single_messages,
release_chain).

`put_message` releases one event with inline data and no chain, package or buffer in place (anything
else goes to `put_chain`); `put_single_messages` releases each of a batch the caller has checked is of
that kind and carries no flags; `release_chain` resets and releases every event of a pNextEvt chain
whatever it held (what the events owned must have been reclaimed first: `put_chain` does that).
`append` is the free list's append, `inline` the pointer size, `package_flag` DMUS_KEF_PACKAGE_EVENT,
`success` the status all three return."""
