"""Plain-text rendering of a summary for terminals and logs."""

from __future__ import annotations

import textwrap

from core.summary import Claim, Summary

_WIDTH = 100


def render_text(summary: Summary) -> str:
    lines = [summary.headline, "=" * min(len(summary.headline), _WIDTH), ""]

    lines.append("What the sources agree on")
    if not summary.consensus:
        lines.append("  (no fact is reported by more than one independent source)")
    for fact in summary.consensus:
        cited = f"{fact.text} [{', '.join(fact.sources)}]"
        lines.extend(_bullet(cited, "  • ", "    "))
        for variant in fact.variants:  # the same fact with other details, not cited above
            lines.extend(_bullet(f"{variant.source}: “{variant.text}”", "      ~ ", "        "))
    lines.append("")

    lines.append("What only one source reports")
    listed = [group for group in summary.unique if group.facts]
    if not listed:
        lines.append("  (nothing beyond what several sources report)")
    for group in listed:
        lines.append(f"  {group.source}:")
        for unique in group.facts:
            lines.extend(_bullet(unique.text, "    • ", "      "))
    lines.append("")

    lines.append("Where the sources disagree")
    if not summary.conflicts:
        lines.append("  (no contradictions found)")
    for conflict in summary.conflicts:
        lines.append(f"  {conflict.about}:")
        for side in _sides(conflict.claims):
            values = " / ".join(dict.fromkeys(c.value for c in side))
            sources = ", ".join(dict.fromkeys(c.source for c in side))
            lines.extend(_bullet(f"{values} — {sources}", "    ◦ ", "      "))
            for claim in side:
                lines.extend(_bullet(f"{claim.source}: “{claim.text}”", "        ", "          "))
    return "\n".join(lines).rstrip() + "\n"


def _sides(claims: list[Claim]) -> list[list[Claim]]:
    sides: dict[int, list[Claim]] = {}
    for claim in claims:
        sides.setdefault(claim.side, []).append(claim)
    return [sides[key] for key in sorted(sides)]


def _bullet(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width=_WIDTH, initial_indent=first, subsequent_indent=rest) or [
        first
    ]
