"""An honest load for the create benchmarks: several accounts, each sending from its own number to varying
destinations, with bodies in a realistic mix of segment counts and alphabets.

One account sending one fixed body from the magic test number flatters every cache and skips the number
lookup a real sender pays, so the benchmarks that time creates (http_create.py, scale.py, smpp_e2e.py) draw their
requests from here. `request_file` writes them for wrk's `post_mixed.lua`, which cycles through the file.
"""

from __future__ import annotations

import base64
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

GSM_WORDS = ["hello", "your", "code", "is", "ready", "see", "you", "at", "the", "station", "tomorrow"]
UCS2_WORDS = ["Grüße", "привет", "こんにちは", "😀", "ça va", "Ωmega"]


@dataclass(frozen=True, slots=True)
class Sender:
    """An account that sends, with the number it owns."""

    sid: str
    token: str
    number: str

    @property
    def basic(self) -> str:
        return base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()


def message_body(rng: random.Random) -> str:
    """A realistic mix of segment counts: mostly one GSM-7 segment, some 2-3, some UCS-2, a few long ones."""
    roll = rng.random()
    words = GSM_WORDS
    if roll < 0.6:
        length = rng.randint(5, 150)
    elif roll < 0.8:
        length = rng.randint(170, 450)
    elif roll < 0.95:
        words, length = GSM_WORDS + UCS2_WORDS, rng.randint(20, 130)
    else:
        length = rng.randint(700, 1500)
    text = ""
    while len(text) < length:
        text += rng.choice(words) + " "
    if words is not GSM_WORDS and not any(w in text for w in UCS2_WORDS):
        text += UCS2_WORDS[0]
    return text[:length].strip() or "hi"


def make_senders(url: str, owner_sid: str, owner_token: str, subaccounts: int = 3) -> list[Sender]:
    """The owner and `subaccounts` subaccounts, each given a number of its own through the API."""
    creds = [(owner_sid, owner_token)]
    with httpx.Client(base_url=url, auth=(owner_sid, owner_token), timeout=30, verify=False) as owner:
        for index in range(subaccounts):
            made = owner.post("/2010-04-01/Accounts.json", data={"FriendlyName": f"bench-{index}"})
            made.raise_for_status()
            creds.append((made.json()["sid"], made.json()["auth_token"]))
        senders = []
        for sid, token in creds:
            number = f"+1415{secrets.randbelow(10**7):07d}"
            response = owner.post(
                f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json", data={"PhoneNumber": number}
            )
            response.raise_for_status()
            senders.append(Sender(sid, token, number))
    return senders


def create_form(sender: Sender, rng: random.Random, status_callback: str | None = None) -> dict[str, str]:
    """One create's parameters: from the sender's number to one of 10,000 destinations. Each ends in 99 and
    its seven digits begin with 1, so none hits the SMSC simulator's failure suffixes (…0001-…0008, …0990NNN):
    drawn from all 10^7 numbers, one in ~1,100 did, and a …0008 (a system error, retried for ever with backoff)
    kept profile.py's end-to-end drain from finishing."""
    to = f"+1555{10_000 + rng.randrange(10_000):05d}99"
    form = {"To": to, "From": sender.number, "Body": message_body(rng)}
    if status_callback:
        form["StatusCallback"] = status_callback
    return form


def request_file(path: Path, senders: list[Sender], count: int = 4096, seed: int = 1) -> Path:
    """`count` creates spread over `senders`, one per line as `path<TAB>basic<TAB>form` (post_mixed.lua)."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        sender = senders[index % len(senders)]
        target = f"/2010-04-01/Accounts/{sender.sid}/Messages.json"
        lines.append(f"{target}\t{sender.basic}\t{urlencode(create_form(sender, rng))}")
    path.write_text("\n".join(lines) + "\n")
    return path
