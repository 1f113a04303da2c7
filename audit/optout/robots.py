"""robots.txt rules for AI crawlers, and Spawning's ai.txt (same syntax, file-type patterns).

RFC 9309 semantics: the group naming the agent (case-insensitive) wins over `*`; within a group the
longest matching rule wins and Allow wins a tie. Wildcards are matched with a linear two-pointer
algorithm (no regex), so a hostile `/*a*a*a*…` line cannot cause catastrophic backtracking; the
file is capped at 500 KiB like Google's crawler does.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.optout.signals import AI_AGENTS, Signal, _clip, parse_content_signal, parse_content_usage

MAX_ROBOTS_BYTES = 500 * 1024
MAX_RULE_LEN = 2048
#: Agents checked by default (display spelling).
DEFAULT_AGENTS = ("GPTBot", "CCBot", "Google-Extended", "ClaudeBot", "anthropic-ai", "Applebot-Extended",
                  "img2dataset", "Bytespider", "PerplexityBot", "Meta-ExternalAgent")


def glob_match(pattern: str, path: str, prefix: bool = True) -> bool:
    """robots.txt pattern match: '*' any run, trailing '$' anchors; otherwise a prefix match."""
    if pattern.endswith("$"):
        pattern, prefix = pattern[:-1], False
    if prefix:
        pattern += "*"
    p = s = 0
    star = -1
    mark = 0
    while s < len(path):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == path[s]:
            p += 1
            s += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, s
            p += 1
        elif star != -1:
            p = star + 1
            mark += 1
            s = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


@dataclass(frozen=True)
class RobotsGroup:
    agents: tuple[str, ...]
    rules: tuple[tuple[bool, str], ...]  # (allow?, pattern)
    lines: tuple[str, ...]               # raw text, for evidence


@dataclass(frozen=True)
class RobotsFile:
    groups: tuple[RobotsGroup, ...]
    extra: tuple[Signal, ...]  # Content-Usage / Content-Signal lines
    truncated: bool

    def group_for(self, agent: str) -> RobotsGroup | None:
        a = agent.lower()
        named = [g for g in self.groups if a in g.agents]
        if named:
            return RobotsGroup(tuple(x for g in named for x in g.agents), tuple(r for g in named for r in g.rules),
                               tuple(x for g in named for x in g.lines))
        star = [g for g in self.groups if "*" in g.agents]
        if star:
            return RobotsGroup(("*",), tuple(r for g in star for r in g.rules), tuple(x for g in star for x in g.lines))
        return None

    def verdict(self, agent: str, path: str) -> tuple[bool, str | None, RobotsGroup | None]:
        """(allowed?, deciding rule, group) for `agent` fetching `path`."""
        g = self.group_for(agent)
        if g is None:
            return True, None, None
        best: tuple[int, bool, str] | None = None
        for allow, pat in g.rules:
            if pat == "":
                continue  # an empty Disallow allows everything
            if glob_match(pat, path):
                cand = (len(pat), allow, pat)
                if best is None or cand[0] > best[0] or (cand[0] == best[0] and allow and not best[1]):
                    best = cand
        if best is None:
            return True, None, g
        return best[1], f"{'Allow' if best[1] else 'Disallow'}: {best[2]}", g


def parse_robots(text: str | bytes, location: str = "robots.txt") -> RobotsFile:
    """Parse robots.txt (or ai.txt) text into groups; never raises on odd input."""
    if isinstance(text, bytes):
        truncated = len(text) > MAX_ROBOTS_BYTES
        text = text[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
    else:
        truncated = len(text) > MAX_ROBOTS_BYTES
        text = text[:MAX_ROBOTS_BYTES]
    groups: list[RobotsGroup] = []
    extra: list[Signal] = []
    agents: list[str] = []
    rules: list[tuple[bool, str]] = []
    raw: list[str] = []
    in_rules = False

    def flush() -> None:
        if agents:
            groups.append(RobotsGroup(tuple(agents), tuple(rules), tuple(raw)))

    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        if ":" not in body:
            continue
        field, value = body.split(":", 1)
        field, value = field.strip().lower(), value.strip()[:MAX_RULE_LEN]
        if field in ("user-agent", "useragent"):
            if in_rules:
                flush()
                agents, rules, raw, in_rules = [], [], [], False
            agents.append(value.lower())
            raw.append(line.strip())
        elif field in ("allow", "disallow"):
            in_rules = True
            rules.append((field == "allow", value))
            raw.append(line.strip())
        elif field == "content-usage":
            extra.extend(parse_content_usage(value, kind="robots.txt content-usage", location=location))
        elif field == "content-signal":
            extra.extend(parse_content_signal(value, kind="robots.txt content-signal", location=location))
    flush()
    return RobotsFile(tuple(groups), tuple(extra), truncated)


def robots_signals(text: str | bytes, path: str = "/", agents: tuple[str, ...] = DEFAULT_AGENTS,
                   location: str = "robots.txt", kind: str = "robots.txt") -> tuple[Signal, ...]:
    """One Signal per AI crawler that may not fetch `path`, plus a '*' signal and Content-Usage lines."""
    rf = parse_robots(text, location)
    out: list[Signal] = list(rf.extra)
    scope = "ai-training" if kind == "ai.txt" else "crawling"
    for agent in agents:
        allowed, rule, group = rf.verdict(agent, path)
        if not allowed and group is not None and group.agents != ("*",):
            evidence = " / ".join(group.lines[:6])
            out.append(Signal(kind, f"disallow {path} ({rule})", "ai-training", True, _clip(evidence), agent.lower(), location))
    allowed, rule, group = rf.verdict("*", path)
    if not allowed and group is not None:
        out.append(Signal(kind, f"disallow {path} ({rule})", scope, True, _clip(" / ".join(group.lines[:6])), None, location))
    if rf.truncated:
        out.append(Signal(kind, f"file larger than {MAX_ROBOTS_BYTES} bytes; rest ignored", scope, False, "", None, location))
    return tuple(out)


def ai_txt_signals(text: str | bytes, path: str = "/", location: str = "ai.txt") -> tuple[Signal, ...]:
    """Spawning ai.txt: robots syntax where `Disallow: *.jpg` reserves those files from AI training."""
    return robots_signals(text, path, agents=(), location=location, kind="ai.txt")


__all__ = ["glob_match", "parse_robots", "robots_signals", "ai_txt_signals", "DEFAULT_AGENTS", "AI_AGENTS"]
