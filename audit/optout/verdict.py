"""The three-valued answer for one use: opted out / not opted out / unknown, with the reason.

Per use and agent (draft-ietf-aipref-vocab §5.1 "Combining Preferences"): any applicable statement that
disallows the use decides "opted out" — the most restrictive applies. Otherwise, if some statement that
governs the use could not be read in full, the answer is "unknown: could not read …", never "allowed".
Otherwise "not opted out". Within TDMRep the W3C precedence (embedded > meta > header > file) picks the
binding statement first; conflicts across families are reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.errors import InputError
from audit.optout.base import ALLOW, DISALLOW, STRICTNESS, UNKNOWN, USES, Signal
from audit.optout.signals import TDMREP_PRECEDENCE

OPTED_OUT, NOT_OPTED_OUT, UNKNOWN_STATUS = "opted out", "not opted out", "unknown"
DEFAULT_AGENT = "img2dataset"
DEFAULT_USE = "train"


@dataclass(frozen=True)
class Verdict:
    """Is `use` of the content reserved for `agent`? With every signal considered and why."""

    url: str
    agent: str
    use: str
    status: str                     # opted out | not opted out | unknown
    scope: str | None               # the binding reservation's own category (registry vocabulary), if opted out
    reason: str
    signals: tuple[Signal, ...]
    binding: tuple[Signal, ...]     # the disallowing signals that apply, strictest first
    overridden: tuple[Signal, ...]  # set aside: lower TDMRep precedence, and permissive signals beaten by a reservation
    unknown: tuple[Signal, ...] = ()  # applicable signals that could not be read in full
    problems: tuple[str, ...] = ()

    @property
    def opted_out(self) -> bool:
        return self.status == OPTED_OUT

    @property
    def is_unknown(self) -> bool:
        return self.status == UNKNOWN_STATUS

    @property
    def headline(self) -> str:
        return {OPTED_OUT: "OPTED OUT", NOT_OPTED_OUT: "not opted out", UNKNOWN_STATUS: "UNKNOWN"}[self.status]


def check_use(use: str) -> str:
    if use not in USES:
        raise InputError(f"unknown use '{use}'", f"use one of {', '.join(USES)}")
    return use


def _names(sigs: list[Signal]) -> str:
    return ", ".join(f"{s.kind} '{s.directive}'" for s in sigs)


def decide(sigs: tuple[Signal, ...], agent: str = DEFAULT_AGENT, url: str = "", problems: tuple[str, ...] = (),
           use: str = DEFAULT_USE) -> Verdict:
    check_use(use)
    applicable = [s for s in sigs if s.applies_to(agent) and s.governs(use) and s.state in (DISALLOW, ALLOW, UNKNOWN)]
    other_agents = sum(1 for s in sigs if not s.applies_to(agent) and s.state in (DISALLOW, ALLOW))
    set_aside: list[Signal] = []
    tdm = [s for s in applicable if s.kind in TDMREP_PRECEDENCE]
    if tdm:
        top = max(TDMREP_PRECEDENCE[s.kind] for s in tdm)
        set_aside = [s for s in tdm if TDMREP_PRECEDENCE[s.kind] < top]
        applicable = [s for s in applicable if s not in set_aside]
    restricting = sorted((s for s in applicable if s.state == DISALLOW), key=lambda s: -STRICTNESS.get(s.scope, 0))
    permissive = [s for s in applicable if s.state == ALLOW]
    unreadable = [s for s in applicable if s.state == UNKNOWN]
    precedence_note = f"; TDMRep precedence (embedded > meta > header > file) set aside {_names(set_aside)}" if set_aside else ""
    if restricting:
        s = restricting[0]
        reason = f"{s.kind} '{s.directive}' reserves {s.scope} (use '{use}'" + (f"; {s.rule})" if s.rule else ")")
        if permissive:
            reason += f"; conflicting signals, strictest wins over {_names(permissive)}"
        if unreadable:
            reason += f"; also unreadable: {_names(unreadable)}"
        return Verdict(url, agent, use, OPTED_OUT, s.scope, reason + precedence_note, sigs, tuple(restricting),
                       tuple(set_aside + permissive), tuple(unreadable), problems)
    if unreadable:
        reason = "unknown: " + "; ".join(f"{s.directive} ({s.kind}{', ' + s.location if s.location else ''})" for s in unreadable)
        reason += " — no readable signal reserves it, and what could not be read might"
        return Verdict(url, agent, use, UNKNOWN_STATUS, None, reason + precedence_note, sigs, (), tuple(set_aside),
                       tuple(unreadable), problems)
    reason = f"no applicable reservation for use '{use}'"
    if permissive:
        reason += f"; allowed by {_names(permissive)}"
    if other_agents:
        reason += f" ({other_agents} signal(s) scoped to other agents)"
    return Verdict(url, agent, use, NOT_OPTED_OUT, None, reason + precedence_note, sigs, (), tuple(set_aside), (), problems)
