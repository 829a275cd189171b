"""The demo web shop's traffic: Segment messages, as analytics.js sends them, from the
generator's own people.

Some people browse anonymously first (a browser's ``anonymousId``) and sign up later
(``identify`` with the email and name they gave the brand), after which their visits
carry a ``userId``; some then use a second device that the shop aliases to them; other
visitors never identify. :func:`write` puts one message a line in
``<out>/web/events_YYYYMMDD.jsonl`` (outside ``drop/``: no courier fetches them, they are
sent to the collector) and the truth about who is who in ``<out>/web_truth.csv``.
Send them to a running collector::

    CDP_DEMO_WEB_WRITE_KEY=... cdp collect serve &
    CDP_DEMO_WEB_WRITE_KEY=... python -m cdp_pipelines.examples.demo_tenant.web_traffic \\
        --out .cdp/demo --url http://127.0.0.1:8090
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

WRITE_KEY_ENV = "CDP_DEMO_WEB_WRITE_KEY"
VISITING = 0.35          # share of people who visit the web shop
SIGNING_UP = 0.6         # of visitors, those who identify at some visit
SECOND_DEVICE = 0.15     # of those, the ones who also browse on an aliased device
ANONYMOUS_ONLY = 0.15    # visitors who never identify, per person of the population
CATALOGUE = [(f"SKU-{c[:3].upper()}-{n:03d}", c, p) for c, p in (
    ("Shoes", 89.0), ("Outerwear", 149.0), ("Bags", 59.0), ("Accessories", 19.0))
    for n in range(25)]


def _id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(64):016x}"


class _Visitor:
    """One browser's messages, in time order."""

    def __init__(self, rng: random.Random, start: date, days: int):
        self.rng, self.start, self.days = rng, start, days
        self.anonymous_id = _id(rng, "anon-")
        self.user_id: str | None = None
        self.messages: list[dict[str, Any]] = []

    def _message(self, moment: datetime, kind: str, **fields: Any) -> None:
        self.messages.append({
            "type": kind, "messageId": _id(self.rng, "msg-"), "anonymousId": self.anonymous_id,
            **({"userId": self.user_id} if self.user_id else {}),
            "originalTimestamp": moment.isoformat(timespec="milliseconds") + "Z",
            "context": {"library": {"name": "analytics.js", "version": "4.1.0"},
                        "userAgent": "Mozilla/5.0 (demo)"},
            **fields})

    def visit(self, person=None) -> None:
        """One session: a home page, product views, maybe a cart add, an order or a
        sign-up (``person`` given)."""
        rng = self.rng
        moment = datetime.combine(self.start + timedelta(days=rng.randrange(self.days)),
                                  time(hour=rng.randrange(7, 23), minute=rng.randrange(60)))
        self._message(moment, "page", name="Home", properties={"path": "/"})
        if person is not None:
            moment += timedelta(seconds=rng.randrange(20, 90))
            self.user_id = _id(rng, "web-")
            self._message(moment, "identify", userId=self.user_id, traits={
                "email": person.contact_email, "firstName": person.first,
                "lastName": person.last})
            self._message(moment, "track", event="Signed Up", properties={})
        viewed = rng.sample(CATALOGUE, rng.randint(1, 6))
        for sku, category, price in viewed:
            moment += timedelta(seconds=rng.randrange(10, 120))
            self._message(moment, "track", event="Product Viewed",
                          properties={"sku": sku, "category": category, "price": price})
        if rng.random() < 0.3:
            sku, category, price = viewed[-1]
            moment += timedelta(seconds=rng.randrange(5, 60))
            self._message(moment, "track", event="Product Added",
                          properties={"sku": sku, "category": category, "price": price})
            if self.user_id and rng.random() < 0.4:
                moment += timedelta(seconds=rng.randrange(30, 300))
                self._message(moment, "track", event="Order Completed", properties={
                    "order_id": _id(rng, "w"), "revenue": price})

    def alias_from(self, other: "_Visitor") -> None:
        """This browser is ``other``'s user on a second device."""
        self.user_id = other.user_id
        moment = datetime.combine(self.start + timedelta(days=self.days - 1), time(23, 30))
        self._message(moment, "alias", previousId=self.anonymous_id, userId=self.user_id)


def web_messages(people: list, seed: int, start: date, days: int
                 ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Every message of the web shop (time order) and (user_id, person_id) pairs."""
    rng = random.Random(f"{seed}-web")
    visitors, truth = [], []
    for person in people:
        if rng.random() >= VISITING:
            continue
        visitor = _Visitor(rng, start, days)
        visits = rng.randint(1, 4)
        signs_up = person.contact_email and rng.random() < SIGNING_UP
        sign_up_at = rng.randrange(visits) if signs_up else None
        for number in range(visits):
            visitor.visit(person if number == sign_up_at else None)
        visitors.append(visitor)
        if visitor.user_id:
            truth.append((visitor.user_id, person.person_id))
            if rng.random() < SECOND_DEVICE:
                device = _Visitor(rng, start, days)
                device.visit()
                device.alias_from(visitor)
                visitors.append(device)
    for _ in range(int(len(people) * ANONYMOUS_ONLY)):
        visitor = _Visitor(rng, start, days)
        visitor.visit()
        visitors.append(visitor)
    messages = [m for v in visitors for m in v.messages]
    messages.sort(key=lambda m: m["originalTimestamp"])
    return messages, sorted(truth)


def write(out_dir: Path, people: list, seed: int, start: date, days: int) -> int:
    """Write the day files and web_truth.csv; return how many messages."""
    messages, truth = web_messages(people, seed, start, days)
    folder = Path(out_dir) / "web"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events_*.jsonl"):
        old.unlink()
    for day in range(days):
        stamp = (start + timedelta(days=day)).isoformat()
        lines = [json.dumps(m, sort_keys=True) for m in messages
                 if m["originalTimestamp"].startswith(stamp)]
        (folder / f"events_{stamp.replace('-', '')}.jsonl").write_text(
            "".join(line + "\n" for line in lines), encoding="utf-8")
    with (Path(out_dir) / "web_truth.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("user_id", "person_id"))
        writer.writerows(truth)
    return len(messages)


def send(out_dir: Path, url: str, write_key: str, batch: int = 100) -> int:
    """Post every generated message to the collector at ``url``; return how many."""
    import requests

    sent = 0
    with requests.Session() as session:
        for path in sorted((Path(out_dir) / "web").glob("events_*.jsonl")):
            messages = [json.loads(line) for line in path.read_text().splitlines() if line]
            for i in range(0, len(messages), batch):
                response = session.post(f"{url.rstrip('/')}/v1/batch", timeout=30,
                                        auth=(write_key, ""),
                                        json={"batch": messages[i:i + batch]})
                if response.status_code != 200:
                    raise RuntimeError(f"{path.name}: the collector answered "
                                       f"{response.status_code}: {response.text}")
                sent += len(messages[i:i + batch])
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send the demo web traffic to a collector.")
    parser.add_argument("--out", type=Path, default=Path(".cdp/demo"))
    parser.add_argument("--url", default="http://127.0.0.1:8090")
    args = parser.parse_args(argv)
    key = os.environ.get(WRITE_KEY_ENV)
    if not key:
        parser.error(f"set {WRITE_KEY_ENV} to the web source's write key")
    print(f"sent {send(args.out, args.url, key)} messages to {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
