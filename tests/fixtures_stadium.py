"""An invented story for the summary-quality tests: a stadium bond vote put off, told by three
outlets that word it apart.

Planted, so the tests know the answer:
- the main event in three wordings: A's lead names the $2.1 billion bond and Thursday, B's lead
  names neither ("put off Thursday's planned vote on the stadium financing"), C's rounds the sum
  ("The $2 billion stadium bond vote slipped");
- rounding, not a conflict: $2.1 billion / $2 billion / a two-billion-dollar bond;
- two quantities of different things, not a conflict: the bond ($2.1 billion) and the city's share
  of it ($600 million);
- a sentence that leans on its neighbour ("This would be …") after a sentence another outlet also
  reports, and a framing-only sentence ("From City Hall, the mayor's office struck a different
  tone.");
- one fact per outlet no other reports: the 7-2 committee tally (A), the parking garage (B), the
  bond rating agency (C).
"""

from __future__ import annotations

from datetime import UTC, datetime

PUBLISHED = datetime(2025, 10, 10, 8, 0, tzinfo=UTC)  # a Friday: "Thursday" is 9 October

A = "harbor-ledger.example"
B = "city-wire.example"
C = "northside-post.example"

A_TEXT = (
    "A vote on the $2.1 billion stadium bond was delayed late Thursday after council members "
    "asked for more time to review the repayment terms. "
    "The city would contribute $600 million under the current plan, with the team covering the "
    "rest. "
    "Mayor Lena Ortiz said she still expects the project to go ahead this year. "
    "Earlier in the week the finance committee had advanced the bond by a 7-2 vote."
)
B_TEXT = (
    "The council put off Thursday's planned vote on the stadium financing, saying members needed "
    "more time to study how the debt would be repaid. "
    "Mayor Lena Ortiz told reporters the stadium would still be built despite the delay. "
    "This would be the second time the vote has slipped since the spring. "
    "From City Hall, the mayor's office struck a different tone. "
    "The plan also includes a 1,200-space parking garage on the site of the old bus depot."
)
C_TEXT = (
    "The $2 billion stadium bond vote slipped on Thursday as council members sought more time to "
    "examine the repayment plan. "
    "Supporters describe it as a two-billion-dollar bond that would pay for itself through ticket "
    "taxes. "
    "Mayor Lena Ortiz insisted the stadium project would proceed regardless of the delay. "
    "Moody's has warned that the bond could weigh on the city's credit rating."
)

ARTICLES = [("s1-ledger", A, A_TEXT), ("s2-wire", B, B_TEXT), ("s3-post", C, C_TEXT)]
