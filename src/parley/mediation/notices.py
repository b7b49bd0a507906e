"""The texts of the e-mails the service sends. Plain text, no private number, no secret but an invitation
link sent to the party it is for."""

from __future__ import annotations

from datetime import datetime

_FOOTER = "\n\nThis message was sent by Parley, the mediation service your mediator uses. Do not reply to it."


def invitation(title: str, party: str, link: str) -> str:
    return (f"You are invited to take part in the mediation case \u201c{title}\u201d as {party}.\n\n"
            f"Open this link to claim your seat:\n{link}\n\n"
            "The link works once: whoever opens it first and claims the seat owns it. On your page you can set a "
            "passcode to come back from another device. If you did not expect this message, ignore it."
            + _FOOTER)


def proposals(title: str) -> str:
    return (f"New proposals await you in \u201c{title}\u201d. They were reviewed and approved by your mediator; "
            "open your page in the browser where you claimed your seat (or with your passcode) to answer them."
            + _FOOTER)


def agreement(title: str) -> str:
    return (f"Every party accepted the same package in \u201c{title}\u201d: the case has an agreement. "
            "The mediator will sign it off; the signed agreement can then be downloaded as a PDF from your page."
            + _FOOTER)


def closed(title: str, reason: str) -> str:
    return (f"The mediator closed \u201c{title}\u201d without an agreement."
            + (f" Reason given: {reason}" if reason else "") + _FOOTER)


def reminder(title: str, deadline: datetime, link: str) -> str:
    return (f"The deadline for \u201c{title}\u201d is {deadline:%A %d %B %Y, %H:%M} ({deadline.tzname()}).\n\n"
            f"Open the case: {link}" + _FOOTER)
