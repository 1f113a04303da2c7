"""robots.txt (RFC 9309) for one crawler, with its Content-Usage / Content-Signal rules, and Spawning's ai.txt.

RFC 9309 §2.2.1: a crawler obeys the group(s) naming its product token (case-insensitive), merged; only
if there is none does it obey the `*` group. A group for another AI crawler does not bind ours: it is
reported for information only. §2.2.2: the longest matching rule (in octets) wins and Allow wins a tie;
§2.2.3: `*` matches any run and `$` anchors the end (linear matcher in base.path_match). §2.5: at least
500 KiB are parsed; the rest is ignored and the answer says so.

Content-Usage (draft-ietf-aipref-attach §3) and Content-Signal rules are group members with an optional
leading path; the longest matching path decides, identical paths combine most-restrictive, and they apply
only to paths the group lets the crawler fetch. Lines before any User-agent line apply to every group.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.optout.base import DISALLOW, NONE, USES, Signal, clip, glob_match, match_length, path_match, product_token
from audit.optout.crawlers import training_crawlers
from audit.optout.vocab import parse_content_signal, parse_content_usage

MAX_ROBOTS_BYTES = 500 * 1024
MAX_RULE_LEN = 2048
#: Training crawlers from crawlers.json (display spelling), for reports of which crawlers a file blocks.
DEFAULT_AGENTS = tuple(c.name for c in training_crawlers())
DEFAULT_AGENT = "img2dataset"
RFC_GROUP = "RFC 9309 §2.2.1 (a crawler obeys its own group, else '*'); §2.2.2 (longest match, Allow wins ties)"
ATTACH = "draft-ietf-aipref-attach §3 (Content-Usage rule in a robots.txt group; longest matching path)"
AI_TXT = "Spawning ai.txt (robots.txt syntax; Disallow = no AI training for matching files)"


@dataclass(frozen=True)
class RobotsGroup:
    agents: tuple[str, ...]
    rules: tuple[tuple[bool, str], ...]          # (allow?, pattern)
    usage: tuple[tuple[str, str, str], ...]      # (field, path, preference text) for content-usage / content-signal
    lines: tuple[str, ...]                       # raw text, for evidence


@dataclass(frozen=True)
class RobotsFile:
    groups: tuple[RobotsGroup, ...]
    usage: tuple[tuple[str, str, str], ...]      # usage rules before any group: apply to every group
    truncated: bool

    def group_for(self, agent: str) -> RobotsGroup | None:
        """RFC 9309 §2.2.1: every group naming the product token, merged; else every '*' group, merged; else none."""
        token = product_token(agent)
        named = [g for g in self.groups if token in g.agents] or [g for g in self.groups if "*" in g.agents]
        if not named:
            return None
        agents = (token,) if token in named[0].agents and token != "*" else ("*",)
        return RobotsGroup(agents, tuple(r for g in named for r in g.rules), tuple(u for g in named for u in g.usage),
                           tuple(x for g in named for x in g.lines))

    def verdict(self, agent: str, path: str) -> tuple[bool, str | None, RobotsGroup | None]:
        """(may `agent` fetch `path`?, deciding rule, group)."""
        if path == "/robots.txt":
            return True, None, None  # §2.2.2: always allowed
        g = self.group_for(agent)
        if g is None:
            return True, None, None
        best: tuple[int, bool, str] | None = None
        for allow, pat in g.rules:
            if pat == "":
                continue  # an empty Disallow allows everything
            if path_match(pat, path):
                cand = (match_length(pat), allow, pat)
                if best is None or cand[0] > best[0] or (cand[0] == best[0] and allow and not best[1]):
                    best = cand
        if best is None:
            return True, None, g
        return best[1], f"{'Allow' if best[1] else 'Disallow'}: {best[2]}", g


def _usage_rule(value: str) -> tuple[str, str]:
    """'/path train-ai=n' -> ('/path', 'train-ai=n'); a rule without a path covers '/'."""
    value = value.strip()
    if value.startswith("/") or value.startswith("*"):
        parts = value.split(None, 1)
        return parts[0], parts[1] if len(parts) > 1 else ""
    return "/", value


def parse_robots(text: str | bytes, location: str = "robots.txt") -> RobotsFile:
    """Parse robots.txt (or ai.txt) text into groups; never raises on odd input."""
    truncated = len(text) > MAX_ROBOTS_BYTES
    text = text[:MAX_ROBOTS_BYTES]
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    groups: list[RobotsGroup] = []
    top_usage: list[tuple[str, str, str]] = []
    agents: list[str] = []
    rules: list[tuple[bool, str]] = []
    usage: list[tuple[str, str, str]] = []
    raw: list[str] = []
    in_rules = False

    def flush() -> None:
        if agents:
            groups.append(RobotsGroup(tuple(agents), tuple(rules), tuple(usage), tuple(raw)))

    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        if ":" not in body:
            continue
        field, value = body.split(":", 1)
        field, value = field.strip().lower(), value.strip()[:MAX_RULE_LEN]
        if field in ("user-agent", "useragent"):
            if in_rules:
                flush()
                agents, rules, usage, raw, in_rules = [], [], [], [], False
            agents.append(product_token(value) if value != "*" else "*")
            raw.append(line.strip())
        elif field in ("allow", "disallow") and agents:
            in_rules = True
            rules.append((field == "allow", value))
            raw.append(line.strip())
        elif field in ("content-usage", "content-signal"):
            path, pref = _usage_rule(value)
            if agents:
                in_rules = True
                usage.append((field, path, pref))
                raw.append(line.strip())
            else:
                top_usage.append((field, path, pref))
    flush()
    return RobotsFile(tuple(groups), tuple(top_usage), truncated)


def _usage_signals(rules: list[tuple[str, str, str]], path: str, kind: str, agent: str | None, location: str) -> list[Signal]:
    """Content-Usage / Content-Signal rules that apply to `path`: per field, the longest matching path's rules."""
    out: list[Signal] = []
    for field in ("content-usage", "content-signal"):
        matching = [(match_length(p), p, pref) for f, p, pref in rules if f == field and path_match(p, path)]
        if not matching:
            continue
        longest = max(m[0] for m in matching)
        for _, p, pref in matching:
            if match_length(p) != longest:
                continue
            parse = parse_content_usage if field == "content-usage" else parse_content_signal
            for s in parse(pref, kind=f"{kind} {field}", location=location, agent=agent):
                out.append(Signal(s.kind, s.directive + (f" (path {p})" if p != "/" else ""), s.scope, s.state, s.uses,
                                  clip(f"{field}: {p} {pref}"), agent, location, ATTACH if field == "content-usage" else s.rule))
    return out


def robots_signals(text: str | bytes, path: str = "/", agents: tuple[str, ...] | None = None, location: str = "robots.txt",
                   kind: str = "robots.txt", agent: str = DEFAULT_AGENT) -> tuple[Signal, ...]:
    """What robots.txt says to `agent` about `path`: a Disallow (binding for every use: it may not fetch), the
    Content-Usage / Content-Signal rules of its group, and, for information, other training crawlers blocked."""
    rf = parse_robots(text, location)
    token = product_token(agent)
    out: list[Signal] = []
    allowed, rule, group = rf.verdict(agent, path)
    uses = ("train",) if kind == "ai.txt" else USES
    spec = AI_TXT if kind == "ai.txt" else RFC_GROUP
    if not allowed and group is not None:
        which = "its own group" if group.agents != ("*",) else "the '*' group (no group names it)"
        out.append(Signal(kind, f"disallow {path} ({rule}; {which})", "ai-training" if kind == "ai.txt" else "crawling", DISALLOW,
                          uses, clip(" / ".join(group.lines[:6])), token, location, spec))
    elif kind != "ai.txt":
        usage = list(rf.usage) + (list(group.usage) if group is not None else [])
        out += _usage_signals(usage, path, kind, token, location)
    for other in (agents if agents is not None else DEFAULT_AGENTS):
        if product_token(other) == token:
            continue
        ok, orule, og = rf.verdict(other, path)
        if not ok and og is not None and og.agents != ("*",):
            out.append(Signal(kind, f"disallow {path} for {other} ({orule}): another crawler's group, does not bind {agent}",
                              "crawling", NONE, uses, clip(" / ".join(og.lines[:6])), product_token(other), location, spec))
    if rf.truncated:
        out.append(Signal(kind, f"file larger than {MAX_ROBOTS_BYTES} bytes; rest ignored (RFC 9309 §2.5 parsing limit)",
                          "crawling", NONE, uses, "", None, location, "RFC 9309 §2.5"))
    return tuple(out)


def ai_txt_signals(text: str | bytes, path: str = "/", location: str = "ai.txt", agent: str = DEFAULT_AGENT) -> tuple[Signal, ...]:
    """Spawning ai.txt: robots syntax where `Disallow: *.jpg` reserves those files from AI training."""
    return robots_signals(text, path, agents=(), location=location, kind="ai.txt", agent=agent)


__all__ = ["parse_robots", "robots_signals", "ai_txt_signals", "DEFAULT_AGENTS", "RobotsFile", "RobotsGroup", "glob_match"]
