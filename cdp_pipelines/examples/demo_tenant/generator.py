"""Synthetic data for the demo retail tenant, with the truth about who is who.

A population of people living in households (members share an address and often a
landline and an email; some households have moved) shops with a US retail brand. Each
person shows up in a random, overlapping subset of four sources, sometimes more than
once in one source, with the identity noise real customer data has: typos, nicknames,
first/last swaps, missing fields, case, whitespace and format differences, stale
addresses, shared household contacts and junk placeholder values. A few rows per file
cannot be typed (bad dates, non-numeric amounts) and a few have no primary key; those
must be quarantined downstream, never silently dropped.

Output under ``out_dir``::

    drop/pos/customers_YYYYMMDD.csv            drop/pos/transactions_YYYYMMDD.csv.gz
    drop/ecom/customers_YYYYMMDD.jsonl         drop/ecom/orders_YYYYMMDD.jsonl
    drop/ecom/order_items_YYYYMMDD.parquet     drop/loyalty/members_YYYYMMDD.psv
    drop/email/subscribers_YYYYMMDD.tsv.gz
    ground_truth.csv       source, feed, pk, person_id for every customer record with a pk
    households_truth.csv   person_id, household_id for every person (households as made)
    web/events_YYYYMMDD.jsonl, web_truth.csv   the web shop's Segment messages (sent to
                           the collector, see web_traffic.py) and user_id, person_id
    quarantine_truth.csv   source, feed, file, pk, column, value, reason for each row that
                           must be quarantined (bad value or missing primary key)

One file per kind per day for ``days`` days starting 2026-11-01. The first day carries
most records and the transaction history; later days carry new records and updates of
earlier ones (newer ``updated_at`` where the feed has one). The same seed gives the same
bytes. Run ``python -m cdp_pipelines.examples.demo_tenant.generator --help``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cdp_pipelines.examples.demo_tenant import reference_data as ref
from cdp_pipelines.examples.demo_tenant import web_traffic

START_DATE = date(2026, 11, 1)

# Placeholders clerks and web forms let through; each is shared by many unrelated people.
JUNK_EMAILS = ("test@test.com", "none@none.com", "noemail@demoretail.com")
JUNK_PHONES = ("0000000000", "1111111111", "N/A")
JUNK_ADDRESS = "N/A"

# Which columns hold the primary key, per feed (the tenant YAML says the same).
PRIMARY_KEYS = {
    "pos_customers": ("customer_id",),
    "pos_transactions": ("transaction_id",),
    "ecom_customers": ("customer_id",),
    "ecom_orders": ("order_id",),
    "ecom_order_items": ("order_id", "line_number"),
    "loyalty_members": ("member_id",),
    "email_subscribers": ("subscriber_id",),
}
CUSTOMER_FEEDS = ("pos_customers", "ecom_customers", "loyalty_members", "email_subscribers")

# Per-source noise rates: how carefully each channel captures identity. `nick` applies
# to names that have a nickname.
NOISE = {
    "pos": dict(nick=.25, typo=.04, swap=.02, upper=.10, lower=.03, space=.05, no_first=.01,
                no_last=.01, no_email=.30, junk_email=.06, no_phone=.12, junk_phone=.06,
                landline=.40, no_address=.05, junk_address=.02, old_address=.6, no_birth=.45),
    "ecom": dict(nick=.12, typo=.02, swap=.005, upper=.02, lower=.08, space=.03, no_first=0,
                 no_last=0, no_email=0, junk_email=.015, no_phone=.25, junk_phone=.03,
                 landline=.15, no_address=.02, junk_address=0, old_address=.4, no_birth=1),
    "loyalty": dict(nick=.20, typo=.03, swap=.01, upper=.05, lower=.02, space=.03, no_first=0,
                    no_last=0, no_email=.10, junk_email=.04, no_phone=.05, junk_phone=.04,
                    landline=.10, no_address=1, junk_address=0, old_address=0, no_birth=.10),
    "email": dict(nick=.10, typo=.01, swap=0, upper=.03, lower=.05, space=.02, no_first=.35,
                  no_last=1, no_email=0, junk_email=0, no_phone=1, junk_phone=0, landline=0,
                  no_address=1, junk_address=0, old_address=0, no_birth=1),
}
# Share of people with a second record in the same source (re-registration, guest checkout).
DUPLICATE_RATE = {"pos": .08, "ecom": .06, "loyalty": .03, "email": 0}
# Share of a day's customer records updated again on each later day.
UPDATE_RATE = .10
# Share of records that first arrive on day one (the rest arrive on later days).
FIRST_DAY_SHARE = .8


@dataclass
class Address:
    number: int
    street: str
    suffix: str
    unit: str | None
    city: str
    state: str
    zip5: str
    plus4: str
    area_codes: tuple[str, ...]


@dataclass
class Household:
    household_id: str
    address: Address
    # Where the household lived before moving; older records may still carry it.
    old_address: Address | None
    landline: str | None
    family_email: str | None = None


@dataclass
class Person:
    person_id: str
    household: Household
    first: str
    last: str
    gender: str
    birthdate: date
    email: str | None
    mobile: str

    @property
    def contact_email(self) -> str | None:
        return self.email or self.household.family_email


@dataclass
class CustomerRecord:
    """One record of a person in one source; ``versions`` maps day -> file row."""

    source: str
    person: Person
    first_day: int
    created: datetime
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    pk: str = ""


class _Noise:
    """The ways people and systems garble identity values."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def typo(self, value: str) -> str:
        """A one-character edit: substitute, delete, insert or transpose."""
        letters = [i for i, c in enumerate(value) if c.isalpha()]
        if len(letters) < 3:
            return value
        i = self.rng.choice(letters[1:])
        op = self.rng.randrange(4)
        new = self.rng.choice("abcdefghijklmnopqrstuvwxyz")
        new = new.upper() if value[i].isupper() else new
        if op == 0:
            return value[:i] + new + value[i + 1:]
        if op == 1:
            return value[:i] + value[i + 1:]
        if op == 2:
            return value[:i] + new + value[i:]
        j = i - 1
        return value[:j] + value[i] + value[j] + value[i + 1:]

    def casing(self, value: str, rates: dict[str, float]) -> str:
        roll = self.rng.random()
        if roll < rates["upper"]:
            value = value.upper()
        elif roll < rates["upper"] + rates["lower"]:
            value = value.lower()
        if self.chance(rates["space"]):
            value = self.rng.choice((" ", "  ", "")) + value + self.rng.choice((" ", "  "))
        return value

    def first_name(self, person: Person, rates: dict[str, float]) -> str:
        name = person.first
        nicknames = ref.NICKNAMES.get(name)
        if nicknames and self.chance(rates["nick"]):
            name = self.rng.choice(nicknames)
        if self.chance(rates["typo"]):
            name = self.typo(name)
        return name

    def last_name(self, person: Person, rates: dict[str, float]) -> str:
        name = person.last
        if self.chance(rates["typo"]):
            name = self.typo(name)
        elif "'" in name or "." in name or " " in name:
            # O'Brien / OBrien / O Brien, St. James / St James
            name = self.rng.choice((name, name.replace("'", "").replace(".", ""),
                                    name.replace("'", " ").replace(".", "")))
        return name

    def phone(self, digits: str) -> str:
        a, b, c = digits[:3], digits[3:6], digits[6:]
        return self.rng.choice((
            f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}",
            f"{a}{b}{c}", f"1-{a}-{b}-{c}", f"+1{a}{b}{c}", f"({a}){b}-{c}",
        ))

    def email(self, email: str) -> str:
        roll = self.rng.random()
        if roll < .05:
            return email.upper()
        if roll < .09:
            return email[0].upper() + email[1:]
        if roll < .11:
            return f" {email} "
        if roll < .125:
            local, _, domain = email.partition("@")
            return f"{local}@{self.typo(domain)}"
        return email

    def street_line(self, address: Address) -> str:
        suffix = address.suffix
        if self.chance(.7):
            suffix = self.rng.choice(ref.STREET_SUFFIXES[suffix])
        street = self.typo(address.street) if self.chance(.03) else address.street
        line = f"{address.number} {street} {suffix}"
        if address.unit:
            word = self.rng.choice(ref.UNIT_WORDS)
            line += f" {word}{'' if word == '#' else ' '}{address.unit}"
        if self.chance(.08):
            line = line.upper()
        return line

    def state(self, state: str) -> str:
        roll = self.rng.random()
        if roll < .05:
            return ref.STATE_NAMES[state]
        if roll < .08:
            return state.lower()
        return state

    def city(self, city: str) -> str:
        roll = self.rng.random()
        if roll < .06:
            return city.upper()
        if roll < .08:
            return self.typo(city)
        return city

    def postal(self, address: Address) -> str:
        roll = self.rng.random()
        if roll < .25:
            return f"{address.zip5}-{address.plus4}"
        if roll < .30 and address.zip5.startswith("0"):
            # a spreadsheet ate the leading zero
            return address.zip5.lstrip("0")
        if roll < .33:
            return f"{address.zip5}{address.plus4}"
        return address.zip5


# ---------------------------------------------------------------------------------------
# The population


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, float], ...]) -> Any:
    values, weights = zip(*pairs)
    return rng.choices(values, weights=weights)[0]


def _email_local(first: str, last: str, birthdate: date, rng: random.Random) -> str:
    f, l = re.sub(r"[^a-z]", "", first.lower()), re.sub(r"[^a-z]", "", last.lower())
    yy, nn = f"{birthdate.year % 100:02d}", str(rng.randrange(1, 999))
    return rng.choice((f"{f}.{l}", f"{f[0]}{l}", f"{f}{l}{nn}", f"{f}_{l}", f"{l}{f[0]}{yy}",
                       f"{f}{yy}", f"{f}.{l}{nn}", f"{f[0]}.{l}{yy}"))


class _Population:
    """People in households, with unique emails and phone numbers."""

    def __init__(self, rng: random.Random, people: int):
        self.rng = rng
        self.used_emails: dict[str, bool] = {}
        self.used_phones: dict[str, bool] = {}
        self.used_addresses: dict[tuple[Any, ...], bool] = {}
        self.households: list[Household] = []
        self.people: list[Person] = []
        while len(self.people) < people:
            self._household(min(_weighted(rng, ((1, 50), (2, 30), (3, 12), (4, 8))),
                                people - len(self.people)))

    def _address(self, city: tuple[Any, ...] | None = None) -> Address:
        rng = self.rng
        while True:
            name, state, zips, area_codes = city or rng.choice(ref.CITIES)
            address = Address(
                number=rng.choice((rng.randrange(1, 200), rng.randrange(100, 9999))),
                street=rng.choice(ref.STREET_NAMES),
                suffix=rng.choice(tuple(ref.STREET_SUFFIXES)),
                unit=(f"{rng.randrange(1, 30)}{rng.choice('ABCD')}" if rng.random() < .25
                      else None),
                city=name, state=state, zip5=rng.choice(zips),
                plus4=f"{rng.randrange(1, 9999):04d}", area_codes=area_codes,
            )
            key = (address.number, address.street, address.suffix, address.unit, address.zip5)
            if key not in self.used_addresses:
                self.used_addresses[key] = True
                return address

    def _phone(self, area_codes: tuple[str, ...]) -> str:
        while True:
            number = (f"{self.rng.choice(area_codes)}{self.rng.randrange(201, 999)}"
                      f"{self.rng.randrange(0, 10000):04d}")
            if number not in self.used_phones:
                self.used_phones[number] = True
                return number

    def _email(self, first: str, last: str, birthdate: date) -> str:
        domain = _weighted(self.rng, ref.EMAIL_DOMAINS)
        while True:
            email = f"{_email_local(first, last, birthdate, self.rng)}@{domain}"
            if email not in self.used_emails:
                self.used_emails[email] = True
                return email
            domain = _weighted(self.rng, ref.EMAIL_DOMAINS)

    def _household(self, size: int) -> None:
        rng = self.rng
        address = self._address()
        old_address = None
        if rng.random() < .12:
            # most moves are within the same metro area
            same_city = next(c for c in ref.CITIES if c[0] == address.city and c[1] == address.state)
            old_address = self._address(same_city if rng.random() < .7 else None)
        household = Household(
            household_id=f"H{len(self.households) + 1:06d}", address=address,
            old_address=old_address,
            landline=self._phone(address.area_codes) if rng.random() < .45 else None,
        )
        self.households.append(household)
        surname = rng.choice(ref.SURNAMES)
        head_gender = rng.choice("MF")
        head_age = rng.randrange(24, 82)
        members: list[tuple[str, str, str, int]] = [
            (self._first(head_gender), surname, head_gender, head_age)]
        if size >= 2:
            gender = "F" if head_gender == "M" else "M"
            if rng.random() < .1:
                gender = head_gender
            last = surname if rng.random() < .75 else rng.choice(ref.SURNAMES)
            members.append((self._first(gender), last, gender,
                            max(20, head_age + rng.randrange(-6, 7))))
        for k in range(size - 2):
            gender = rng.choice("MF")
            first = self._first(gender)
            if k == 0 and head_gender == "M" and gender == "M" and rng.random() < .25:
                first = members[0][0]  # a junior: same name and address as his father
            members.append((first, surname, gender,
                            max(16, min(head_age - 18, rng.randrange(16, 36)))))
        for index, (first, last, gender, age) in enumerate(members):
            birthdate = (START_DATE - timedelta(days=365 * age)
                         - timedelta(days=rng.randrange(0, 365)))
            has_email = rng.random() < (.92 if index == 0 else .6)
            person = Person(
                person_id=f"P{len(self.people) + 1:06d}", household=household, first=first,
                last=last, gender=gender, birthdate=birthdate,
                email=self._email(first, last, birthdate) if has_email else None,
                mobile=self._phone(address.area_codes),
            )
            if index == 0 and person.email and size > 1:
                household.family_email = person.email
            self.people.append(person)

    def _first(self, gender: str) -> str:
        return self.rng.choice(ref.MALE_FIRST_NAMES if gender == "M" else ref.FEMALE_FIRST_NAMES)


# ---------------------------------------------------------------------------------------
# Customer records per source


def _day_start(day: int) -> datetime:
    return datetime.combine(START_DATE + timedelta(days=day), time())


def _random_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = max(1, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randrange(seconds))


def _assign_sources(rng: random.Random, person: Person) -> list[str]:
    sources = []
    in_pos = rng.random() < .62
    if in_pos:
        sources.append("pos")
    if person.contact_email and rng.random() < .5:
        sources.append("ecom")
    if rng.random() < (.5 if in_pos else .15):
        sources.append("loyalty")
    if person.contact_email and rng.random() < .55:
        sources.append("email")
    return sources or ["pos"]


class _SourceRows:
    """Builds the file row of a customer record in each source's own shape."""

    def __init__(self, rng: random.Random, noise: _Noise):
        self.rng = rng
        self.noise = noise
        self.loyalty_numbers: dict[str, bool] = {}
        self.subscribed: dict[str, bool] = {}

    def _names(self, person: Person, rates: dict[str, float]) -> tuple[str | None, str | None]:
        first = self.noise.casing(self.noise.first_name(person, rates), rates)
        last = self.noise.casing(self.noise.last_name(person, rates), rates)
        if self.noise.chance(rates["swap"]):
            first, last = last, first
        return (None if self.noise.chance(rates["no_first"]) else first,
                None if self.noise.chance(rates["no_last"]) else last)

    def _email(self, person: Person, rates: dict[str, float]) -> str | None:
        if self.noise.chance(rates["junk_email"]):
            return self.rng.choice(JUNK_EMAILS + ("N/A",))
        email = person.contact_email
        if email is None or self.noise.chance(rates["no_email"]):
            return None
        return self.noise.email(email)

    def _phone(self, person: Person, rates: dict[str, float]) -> str | None:
        if self.noise.chance(rates["junk_phone"]):
            junk = self.rng.choice(JUNK_PHONES)
            return junk if junk == "N/A" else self.noise.phone(junk)
        if self.noise.chance(rates["no_phone"]):
            return None
        landline = person.household.landline
        digits = landline if landline and self.noise.chance(rates["landline"]) else person.mobile
        return self.noise.phone(digits)

    def address_of(self, person: Person, rates: dict[str, float]) -> Address:
        household = person.household
        if household.old_address and self.noise.chance(rates["old_address"]):
            return household.old_address
        return household.address

    def pos(self, person: Person, updated: datetime, address: Address) -> dict[str, Any]:
        rates = NOISE["pos"]
        first, last = self._names(person, rates)
        row: dict[str, Any] = {
            "customer_id": "", "first_name": first, "last_name": last,
            "email": self._email(person, rates), "phone": self._phone(person, rates),
            "address": None, "city": None, "state": None, "zip": None,
            "birthdate": (None if self.noise.chance(rates["no_birth"])
                          else person.birthdate.strftime("%m/%d/%Y")),
            "updated_at": updated.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if self.noise.chance(rates["junk_address"]):
            row["address"] = JUNK_ADDRESS
        elif not self.noise.chance(rates["no_address"]):
            row.update(address=self.noise.street_line(address), city=self.noise.city(address.city),
                       state=self.noise.state(address.state), zip=self.noise.postal(address))
        return row

    def ecom(self, person: Person, created: datetime, updated: datetime,
             address: Address) -> dict[str, Any]:
        rates = NOISE["ecom"]
        first, last = self._names(person, rates)
        row: dict[str, Any] = {
            "customer_id": "", "first_name": first, "last_name": last,
            "email": self._email(person, rates), "phone": self._phone(person, rates),
        }
        if not self.noise.chance(rates["no_address"]):
            line = self.noise.street_line(address)
            address2 = None
            if address.unit and self.noise.chance(.5):
                # the unit typed into the second address line instead
                line = self.noise.street_line(Address(**{**address.__dict__, "unit": None}))
                address2 = f"{self.rng.choice(ref.UNIT_WORDS)} {address.unit}"
            row.update(ship_address1=line, ship_address2=address2,
                       ship_city=self.noise.city(address.city),
                       ship_state=self.noise.state(address.state),
                       ship_postal_code=self.noise.postal(address),
                       ship_country=self.rng.choice(("US", "US", "US", "USA", "United States")))
        row.update(created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   updated_at=updated.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return row

    def loyalty(self, person: Person, joined: datetime) -> dict[str, Any]:
        rates = NOISE["loyalty"]
        first, last = self._names(person, rates)
        first, last = first or "", last or ""
        if self.noise.chance(.1):
            first = f"{first} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}."
        style = self.rng.random()
        full_name = f"{last}, {first}" if style < .25 else f"{first} {last}"
        if style > .95:
            full_name = full_name.upper()
        while True:
            number = f"6042{self.rng.randrange(10**8):08d}"
            if number not in self.loyalty_numbers:
                self.loyalty_numbers[number] = True
                break
        return {
            "member_id": "", "loyalty_number": number, "full_name": full_name.strip(),
            "email": self._email(person, rates), "mobile": self._phone(person, rates),
            "birth_date": (None if self.noise.chance(rates["no_birth"])
                           else person.birthdate.isoformat()),
            "gender": _weighted(self.rng, ((person.gender, 80), (
                {"M": "Male", "F": "Female"}[person.gender], 10), ("U", 4), (None, 6))),
            "joined_date": joined.date().isoformat(),
            "tier": _weighted(self.rng, tuple(zip(ref.LOYALTY_TIERS, (55, 28, 13, 4)))),
        }

    def email(self, person: Person, subscribed: datetime, until: datetime) -> dict[str, Any] | None:
        rates = NOISE["email"]
        email = person.contact_email
        # an email service keeps one subscriber per address
        if email is None or email in self.subscribed:
            return None
        self.subscribed[email] = True
        first, _ = self._names(person, rates)
        opted_in = self.noise.chance(.85)
        return {
            "subscriber_id": "", "email": email.upper() if self.noise.chance(.03) else email,
            "first_name": first,
            "opt_in": self.rng.choice(("true", "yes")) if opted_in else self.rng.choice(("false", "no")),
            "opt_in_date": subscribed.date().isoformat(),
            "unsubscribed_at": None if opted_in else _random_time(
                self.rng, subscribed, until).strftime("%Y-%m-%d %H:%M:%S"),
        }


def _first_appearance(rng: random.Random, days: int) -> tuple[int, datetime]:
    """The day a record first arrives and when it was created."""
    day = 0 if days == 1 or rng.random() < FIRST_DAY_SHARE else rng.randrange(1, days)
    if day == 0:
        created = _random_time(rng, _day_start(-3 * 365), _day_start(-1))
    else:
        created = _random_time(rng, _day_start(day - 1), _day_start(day))
    return day, created


def _update(rng: random.Random, noise: _Noise, rows: _SourceRows, record: CustomerRecord,
            previous: dict[str, Any], day: int) -> dict[str, Any]:
    """A later version of a record: moved, corrected, or with new contact details."""
    person = record.person
    row = dict(previous)
    when = _random_time(rng, _day_start(day - 1), _day_start(day))
    household = person.household
    if record.source in ("pos", "ecom"):
        address = household.address
        if record.source == "pos":
            fresh = rows.pos(person, when, address)
        else:
            fresh = rows.ecom(person, record.created, when, address)
        moved = household.old_address is not None
        for column in (("address", "city", "state", "zip") if record.source == "pos" else
                       ("ship_address1", "ship_address2", "ship_city", "ship_state",
                        "ship_postal_code", "ship_country")):
            if moved or rng.random() < .3:
                row[column] = fresh.get(column)
        if not moved:
            key = rng.choice(("phone", "email", "first_name"))
            row[key] = fresh[key]
        row["updated_at"] = fresh["updated_at"]
    elif record.source == "loyalty":
        if rng.random() < .5:
            tiers = ref.LOYALTY_TIERS
            row["tier"] = tiers[min(len(tiers) - 1, tiers.index(row["tier"]) + 1)]
        else:
            row["mobile"] = noise.phone(person.mobile)
    else:
        opted_in = row["opt_in"] in ("true", "yes")
        row["opt_in"] = rng.choice(("false", "no")) if opted_in else rng.choice(("true", "yes"))
        row["unsubscribed_at"] = when.strftime("%Y-%m-%d %H:%M:%S") if opted_in else None
        if not opted_in:
            row["opt_in_date"] = when.date().isoformat()
    return row


def _customer_records(rng: random.Random, noise: _Noise, population: _Population,
                      days: int) -> dict[str, list[CustomerRecord]]:
    rows = _SourceRows(rng, noise)
    records: dict[str, list[CustomerRecord]] = {s: [] for s in NOISE}
    for person in population.people:
        sources = _assign_sources(rng, person)
        if sources == ["email"] and person.contact_email in rows.subscribed:
            # the household's shared address is subscribed already: this person shops in store
            sources = ["pos"]
        for source in sources:
            copies = 2 if rng.random() < DUPLICATE_RATE[source] else 1
            for _ in range(copies):
                day, created = _first_appearance(rng, days)
                record = CustomerRecord(source=source, person=person, first_day=day,
                                        created=created)
                if day == 0:
                    updated = _random_time(rng, created, _day_start(0))
                else:
                    updated = created
                if source == "pos":
                    row = rows.pos(person, updated, rows.address_of(person, NOISE["pos"]))
                elif source == "ecom":
                    row = rows.ecom(person, created, updated,
                                    rows.address_of(person, NOISE["ecom"]))
                elif source == "loyalty":
                    row = rows.loyalty(person, created)
                else:
                    row = rows.email(person, created, _day_start(day))
                if row is None:
                    continue
                record.versions[day] = row
                for later in range(day + 1, days):
                    if rng.random() < UPDATE_RATE:
                        previous = record.versions[max(record.versions)]
                        record.versions[later] = _update(rng, noise, rows, record, previous, later)
                records[source].append(record)
    # Ids in arrival order of a shuffled list, so that a person's records are not neighbours.
    prefixes = {"pos": "", "ecom": "EC", "loyalty": "LM", "email": "SUB"}
    pk_columns = {"pos": "customer_id", "ecom": "customer_id", "loyalty": "member_id",
                  "email": "subscriber_id"}
    for source, source_records in records.items():
        rng.shuffle(source_records)
        source_records.sort(key=lambda r: r.first_day)
        for n, record in enumerate(source_records, start=1):
            record.pk = (f"{1000000 + n}" if source == "pos" else f"{prefixes[source]}{n:07d}")
            for row in record.versions.values():
                row[pk_columns[source]] = record.pk
    return records


# ---------------------------------------------------------------------------------------
# Transactions


def _pos_transactions(rng: random.Random, records: list[CustomerRecord],
                      days: int) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {d: [] for d in range(days)}

    def add(day: int, customer_id: str, when: datetime, stores: tuple[str, ...]) -> None:
        lines = rng.choice((1, 1, 1, 2, 2, 3, 4))
        quantity = amount = 0
        for _ in range(lines):
            _, _, _, price = rng.choice(ref.PRODUCTS)
            q = rng.choice((1, 1, 1, 2, 3))
            quantity += q
            amount += q * price
        if rng.random() < .04:  # a return
            quantity, amount = -quantity, -amount
        out[day].append({
            "transaction_id": "", "customer_id": customer_id,
            "store_id": rng.choice(stores), "transaction_date": when.strftime("%Y-%m-%d %H:%M:%S"),
            "amount": f"{amount:.2f}", "quantity": str(quantity),
        })

    for record in records:
        stores = tuple(rng.sample(ref.STORE_IDS, 2))
        if record.first_day == 0:
            for _ in range(min(30, int(rng.expovariate(1 / 4)) + 1)):
                add(0, record.pk, _random_time(rng, record.created, _day_start(0)), stores)
        else:
            # registered at the till while buying something
            add(record.first_day, record.pk, record.created, stores)
        for day in range(record.first_day + 1, days):
            if rng.random() < .04:
                add(day, record.pk, _random_time(rng, _day_start(day - 1), _day_start(day)), stores)
    for day in range(days):
        # walk-in customers who gave no details
        start = _day_start(-730) if day == 0 else _day_start(day - 1)
        for _ in range(max(1, len(out[day]) // 20)):
            add(day, "", _random_time(rng, start, _day_start(day)), ref.STORE_IDS)
    counter = 0
    for day in range(days):
        # the till numbers transactions as they happen
        out[day].sort(key=lambda t: (t["transaction_date"], t["customer_id"], t["amount"]))
        for row in out[day]:
            counter += 1
            row["transaction_id"] = f"T{counter:09d}"
    return out


def _ecom_orders(rng: random.Random, records: list[CustomerRecord], days: int
                 ) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    orders: dict[int, list[dict[str, Any]]] = {d: [] for d in range(days)}
    items: dict[int, list[dict[str, Any]]] = {d: [] for d in range(days)}
    counter = 0

    def add(day: int, customer_id: str, when: datetime) -> None:
        nonlocal counter
        counter += 1
        order_id = f"SO{counter:08d}"
        total = 0.0
        for line_number in range(1, rng.choice((1, 1, 2, 2, 3, 4, 5)) + 1):
            sku, name, category, price = rng.choice(ref.PRODUCTS)
            quantity = rng.choice((1, 1, 1, 2, 2, 3))
            line_total = round(quantity * price, 2)
            total += line_total
            items[day].append({
                "order_id": order_id, "line_number": line_number, "sku": sku,
                "product_name": name, "category": category, "quantity": quantity,
                "unit_price": price, "line_total": line_total,
            })
        age = _day_start(day) - when
        status = ("processing" if age < timedelta(days=2) else
                  "shipped" if age < timedelta(days=6) else
                  _weighted(rng, (("delivered", 90), ("returned", 5), ("cancelled", 5))))
        orders[day].append({
            "order_id": order_id, "customer_id": customer_id,
            "order_date": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "order_total": round(total, 2),
            "status": status,
        })
        # the order moves on in later days' files
        for later in range(day + 1, days):
            if status in ("processing", "shipped") and rng.random() < .6:
                status = "shipped" if status == "processing" else "delivered"
                orders[later].append({**orders[day][-1], "status": status})

    for record in records:
        if record.first_day == 0:
            for _ in range(min(20, int(rng.expovariate(1 / 2.5)))):
                add(0, record.pk, _random_time(rng, record.created, _day_start(0)))
        elif rng.random() < .7:
            add(record.first_day, record.pk, _random_time(rng, record.created,
                                                          _day_start(record.first_day)))
        for day in range(record.first_day + 1, days):
            if rng.random() < .03:
                add(day, record.pk, _random_time(rng, _day_start(day - 1), _day_start(day)))
    for day in range(days):
        orders[day].sort(key=lambda o: (o["order_date"], o["order_id"]))
    return orders, items


# ---------------------------------------------------------------------------------------
# Rows that must be quarantined

# feed -> (column, bad values that cannot be typed as declared)
BAD_VALUES = {
    "pos_customers": ("birthdate", ("13/45/1987", "00/00/0000", "31/12/1985", "1987-05-12")),
    "pos_transactions": ("amount", ("N/A", "12.5O", "#VALUE!", "$-")),
    "ecom_customers": ("created_at", ("0000-00-00T00:00:00Z", "2026-13-01T10:00:00Z", "yesterday")),
    "ecom_orders": ("order_total", ("N/A", "49,99", "free")),
    "loyalty_members": ("birth_date", ("1985-02-30", "06/12/1985", "19850612")),
    "email_subscribers": ("opt_in_date", ("2025-02-30", "n/a", "2025/14/01")),
}


def _spoil(rng: random.Random, feed: str, rows: list[dict[str, Any]], file: str,
           truth: list[tuple[str, ...]]) -> list[dict[str, Any]]:
    """Corrupt a few rows and add a few without a primary key; log each in ``truth``."""
    if not rows:
        return rows
    source = feed.split("_", 1)[0]
    pk_columns = PRIMARY_KEYS[feed]
    if feed in BAD_VALUES:
        column, values = BAD_VALUES[feed]
        for i in rng.sample(range(len(rows)), max(1, round(len(rows) * .003))):
            value = rng.choice(values)
            rows[i] = {**rows[i], column: value}
            pk = "|".join(str(rows[i][k]) for k in pk_columns)
            truth.append((source, feed, file, pk, column, value, "value cannot be typed"))
    for _ in range(max(1, round(len(rows) * .002))):
        # a row exported without its key, e.g. from a half-finished form
        copy = dict(rng.choice(rows))
        copy[pk_columns[0]] = None
        truth.append((source, feed, file, "", pk_columns[0], "", "missing primary key"))
        rows.insert(rng.randrange(len(rows) + 1), copy)
    return rows


# ---------------------------------------------------------------------------------------
# Files


def _text_bytes(text: str, gz: bool) -> bytes:
    data = text.encode("utf-8")
    if not gz:
        return data
    buffer = io.BytesIO()
    # no file name and a fixed mtime keep the bytes the same from run to run
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as f:
        f.write(data)
    return buffer.getvalue()


def _delimited(rows: list[dict[str, Any]], columns: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return buffer.getvalue()


def _jsonl(rows: list[dict[str, Any]], columns: list[str], rng: random.Random) -> str:
    lines = []
    for row in rows:
        # exports leave out empty attributes about as often as they write null
        obj = {c: row.get(c) for c in columns if row.get(c) is not None or rng.random() < .5}
        lines.append(json.dumps(obj, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("order_id", pa.string()), ("line_number", pa.int32()), ("sku", pa.string()),
        ("product_name", pa.string()), ("category", pa.string()), ("quantity", pa.int32()),
        ("unit_price", pa.float64()), ("line_total", pa.float64()),
    ])
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


COLUMNS = {
    "pos_customers": ["customer_id", "first_name", "last_name", "email", "phone", "address",
                      "city", "state", "zip", "birthdate", "updated_at"],
    "pos_transactions": ["transaction_id", "customer_id", "store_id", "transaction_date",
                         "amount", "quantity"],
    "ecom_customers": ["customer_id", "first_name", "last_name", "email", "phone",
                       "ship_address1", "ship_address2", "ship_city", "ship_state",
                       "ship_postal_code", "ship_country", "created_at", "updated_at"],
    "ecom_orders": ["order_id", "customer_id", "order_date", "order_total", "status"],
    "ecom_order_items": ["order_id", "line_number", "sku", "product_name", "category",
                         "quantity", "unit_price", "line_total"],
    "loyalty_members": ["member_id", "loyalty_number", "full_name", "email", "mobile",
                        "birth_date", "gender", "joined_date", "tier"],
    "email_subscribers": ["subscriber_id", "email", "first_name", "opt_in", "opt_in_date",
                          "unsubscribed_at"],
}
# feed -> file name stem and extension under drop/<source>/
FILES = {
    "pos_customers": ("customers", "csv"),
    "pos_transactions": ("transactions", "csv.gz"),
    "ecom_customers": ("customers", "jsonl"),
    "ecom_orders": ("orders", "jsonl"),
    "ecom_order_items": ("order_items", "parquet"),
    "loyalty_members": ("members", "psv"),
    "email_subscribers": ("subscribers", "tsv.gz"),
}


def _encode(feed: str, rows: list[dict[str, Any]], rng: random.Random) -> bytes:
    extension = FILES[feed][1]
    columns = COLUMNS[feed]
    if extension == "parquet":
        return _parquet(rows)
    if extension == "jsonl":
        return _text_bytes(_jsonl(rows, columns, rng), gz=False)
    delimiter = {"csv": ",", "psv": "|", "tsv": "\t"}[extension.split(".")[0]]
    return _text_bytes(_delimited(rows, columns, delimiter), gz=extension.endswith(".gz"))


def _clear_previous(drop: Path) -> None:
    """Remove files an earlier run wrote, so a smaller ``days`` leaves no stale day behind."""
    for feed, (stem, extension) in FILES.items():
        folder = drop / feed.split("_", 1)[0]
        if folder.is_dir():
            for path in folder.glob(f"{stem}_[0-9]*.{extension}"):
                path.unlink()


def generate(out_dir: Path, people: int = 2000, seed: int = 7, days: int = 2) -> dict:
    """Write the demo drop files and truth files under ``out_dir``; return counts.

    The counts: ``people``, ``households``, ``files``, ``rows`` (rows written per feed,
    every day, bad rows included), ``records`` (distinct customer records per customer
    feed), ``bad_values`` and ``missing_pk`` (rows per feed that must be quarantined),
    and ``ground_truth`` (rows of ground_truth.csv).
    """
    if people < 1:
        raise ValueError(f"people must be at least 1, got {people}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    out_dir = Path(out_dir)
    rng = random.Random(seed)
    noise = _Noise(rng)
    population = _Population(rng, people)
    records = _customer_records(rng, noise, population, days)
    transactions = _pos_transactions(rng, records["pos"], days)
    orders, items = _ecom_orders(rng, records["ecom"], days)

    by_feed: dict[str, dict[int, list[dict[str, Any]]]] = {
        "pos_transactions": transactions, "ecom_orders": orders, "ecom_order_items": items,
    }
    for source, feed in zip(("pos", "ecom", "loyalty", "email"), CUSTOMER_FEEDS):
        by_feed[feed] = {d: [r.versions[d] for r in records[source] if d in r.versions]
                         for d in range(days)}

    drop = out_dir / "drop"
    _clear_previous(drop)
    quarantine: list[tuple[str, ...]] = []
    counts: dict[str, Any] = {
        "people": len(population.people), "households": len(population.households),
        "files": 0, "rows": {}, "records": {}, "bad_values": {}, "missing_pk": {},
    }
    for feed in FILES:
        stem, extension = FILES[feed]
        folder = drop / feed.split("_", 1)[0]
        folder.mkdir(parents=True, exist_ok=True)
        counts["rows"][feed] = 0
        for day in range(days):
            name = f"{stem}_{(START_DATE + timedelta(days=day)):%Y%m%d}.{extension}"
            rows = [dict(r) for r in by_feed[feed][day]]
            if feed in CUSTOMER_FEEDS:
                rng.shuffle(rows)
            rows = _spoil(rng, feed, rows, f"{folder.name}/{name}", quarantine)
            (folder / name).write_bytes(_encode(feed, rows, rng))
            counts["files"] += 1
            counts["rows"][feed] += len(rows)
        counts["bad_values"][feed] = sum(
            1 for q in quarantine if q[1] == feed and q[6] != "missing primary key")
        counts["missing_pk"][feed] = sum(
            1 for q in quarantine if q[1] == feed and q[6] == "missing primary key")

    truth = sorted(
        (source, feed, record.pk, record.person.person_id)
        for source, feed in zip(("pos", "ecom", "loyalty", "email"), CUSTOMER_FEEDS)
        for record in records[source]
    )
    for source, feed in zip(("pos", "ecom", "loyalty", "email"), CUSTOMER_FEEDS):
        counts["records"][feed] = len(records[source])
    _write_csv(out_dir / "ground_truth.csv", ("source", "feed", "pk", "person_id"), truth)
    _write_csv(out_dir / "households_truth.csv", ("person_id", "household_id"),
               sorted((p.person_id, p.household.household_id) for p in population.people))
    _write_csv(out_dir / "quarantine_truth.csv",
               ("source", "feed", "file", "pk", "column", "value", "reason"), quarantine)
    counts["ground_truth"] = len(truth)
    counts["web_messages"] = web_traffic.write(out_dir, population.people, seed, START_DATE,
                                               days)
    return counts


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cdp_pipelines.examples.demo_tenant.generator",
        description="Generate the demo retail tenant's source files and ground truth.",
    )
    parser.add_argument("--people", type=int, default=2000, help="true people (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--days", type=int, default=2, help="daily files per feed (default 2)")
    parser.add_argument("--out", type=Path, default=Path(".cdp/demo"),
                        help="output directory; files go to <out>/drop (default .cdp/demo)")
    args = parser.parse_args(argv)
    try:
        counts = generate(args.out, people=args.people, seed=args.seed, days=args.days)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
