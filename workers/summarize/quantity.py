"""A quantity a statement commits to, as an interval: "two-hour" is [2h, 2h], "over two hours"
[2h, ∞). Two reports agree when their intervals meet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    text: str
    # What is measured: "count:injured", "duration:short", "amount:USD", "percent",
    # "magnitude:quake", …
    slot: str
    low: float
    high: float
    # Content words right around the number ("stadium bond", "city's share"): what an amount or
    # a share is of. Two amounts (or shares) are one quantity only if they share one.
    about: frozenset[str] = frozenset()

    def meets(self, other: Quantity) -> bool:
        return self.low <= other.high and other.low <= self.high


def last_digit_unit(number: str) -> float:
    """Place value of the last significant written digit: 1 for "2", 0.1 for "2.1", 1000 for
    "48,000"; 1 for a number word."""
    digits = number.replace(",", "")
    if not digits[:1].isdigit():
        return 1.0
    if "." in digits:
        return float(10 ** -len(digits.split(".", 1)[1]))
    return float(10 ** (len(digits) - len(digits.rstrip("0")))) if digits.strip("0") else 1.0
