"""Generate funds, investors and investments deterministically from a seed.

Plain tuples, not ORM objects: seeding 100,000 investments must be fast. The
data respects every rule of SPEC §2: commitments never exceed a hard cap
(caps are raised to fit what was generated), names are valid, emails unique.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from graphql_api.db.models import FundStatus, InvestorType

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_FUND_WORDS = (
    "Atlas",
    "Boreal",
    "Cedar",
    "Delta",
    "Evergreen",
    "Fjord",
    "Granite",
    "Harbor",
    "Ironwood",
    "Juniper",
    "Keystone",
    "Lighthouse",
    "Meridian",
    "Northstar",
    "Oakridge",
    "Pinnacle",
    "Quarry",
    "Redwood",
    "Summit",
    "Tidewater",
    "Upland",
    "Vantage",
    "Westbrook",
    "Yellowstone",
    "Zenith",
)
_FUND_STRATEGIES = (
    "Growth",
    "Buyout",
    "Venture",
    "Infrastructure",
    "Credit",
    "Real Estate",
    "Secondaries",
    "Climate",
    "Healthcare",
    "Technology",
)
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
_FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
)
_LAST_NAMES = (
    "Andersen",
    "Baptiste",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
)
_INSTITUTIONS = (
    "Pension Plan",
    "University Endowment",
    "Insurance Group",
    "Sovereign Fund",
    "Foundation",
    "Teachers' Retirement System",
)
_FAMILY_OFFICES = ("Family Office", "Family Holdings", "Capital Partners", "Trust")


@dataclass(frozen=True, slots=True)
class Sizes:
    funds: int
    investors: int
    investments: int


DEMO = Sizes(funds=12, investors=40, investments=240)
DEFAULT = Sizes(funds=200, investors=2_000, investments=20_000)
# `graphql-api seed --scale`: one fund per 100 investments, one investor per 10.
SCALES = {
    "small": Sizes(funds=10, investors=100, investments=1_000),
    "medium": Sizes(funds=1_000, investors=10_000, investments=100_000),
    "large": Sizes(funds=10_000, investors=100_000, investments=1_000_000),
}


@dataclass
class FundSeed:
    id: uuid.UUID
    name: str
    vintage_year: int
    target_cents: int
    hard_cap_cents: int | None
    status: FundStatus
    created_at: datetime
    committed_cents: int = 0


@dataclass(frozen=True, slots=True)
class InvestorSeed:
    id: uuid.UUID
    name: str
    investor_type: InvestorType
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InvestmentSeed:
    id: uuid.UUID
    fund_id: uuid.UUID
    investor_id: uuid.UUID
    amount_cents: int
    investment_date: date
    created_at: datetime


@dataclass
class DataSet:
    funds: list[FundSeed] = field(default_factory=list)
    investors: list[InvestorSeed] = field(default_factory=list)
    investments: list[InvestmentSeed] = field(default_factory=list)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _moment(rng: random.Random, index: int) -> datetime:
    """Strictly increasing creation times, so creation order is the generation order."""
    return EPOCH + timedelta(seconds=index * 60 + rng.randrange(60))


def _funds(rng: random.Random, count: int, today: date) -> Iterator[FundSeed]:
    for index in range(count):
        word, strategy = rng.choice(_FUND_WORDS), rng.choice(_FUND_STRATEGIES)
        target_cents = rng.randrange(50, 5_000) * 1_000_000 * 100
        capped = rng.random() < 0.7
        yield FundSeed(
            id=_uuid(rng),
            name=f"{word} {strategy} Fund {_ROMAN[index % len(_ROMAN)]}",
            vintage_year=rng.randint(2010, today.year + 1),
            target_cents=target_cents,
            hard_cap_cents=target_cents * rng.randint(100, 150) // 100 if capped else None,
            status=rng.choices(list(FundStatus), weights=(6, 3, 1))[0],
            created_at=_moment(rng, index),
        )


def _investor(rng: random.Random, index: int, seed: int) -> InvestorSeed:
    """An investor; the seed is in its email, so data sets of other seeds can be appended."""
    investor_type = rng.choices(list(InvestorType), weights=(5, 3, 2))[0]
    if investor_type is InvestorType.INDIVIDUAL:
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        name, handle = f"{first} {last}", f"{first}.{last}"
    elif investor_type is InvestorType.INSTITUTION:
        last = rng.choice(_LAST_NAMES)
        name, handle = f"{last} {rng.choice(_INSTITUTIONS)}", f"ir.{last}"
    else:
        last = rng.choice(_LAST_NAMES)
        name, handle = f"{last} {rng.choice(_FAMILY_OFFICES)}", f"office.{last}"
    return InvestorSeed(
        id=_uuid(rng),
        name=name,
        investor_type=investor_type,
        email=f"{handle}.{seed}-{index}@example.com".lower(),
        created_at=_moment(rng, index),
    )


def generate(sizes: Sizes, seed: int, today: date) -> DataSet:
    """The data set for `sizes` and `seed`: the same arguments give the same data."""
    rng = random.Random(seed)
    data = DataSet(
        funds=list(_funds(rng, sizes.funds, today)),
        investors=[_investor(rng, index, seed) for index in range(sizes.investors)],
    )
    if not data.funds or not data.investors:
        return data
    for index in range(sizes.investments):
        fund = rng.choice(data.funds)
        amount_cents = rng.randrange(25, 5_000) * 10_000 * 100
        fund.committed_cents += amount_cents
        start = date(fund.vintage_year, 1, 1)
        span = max((today - start).days, 1)
        data.investments.append(
            InvestmentSeed(
                id=_uuid(rng),
                fund_id=fund.id,
                investor_id=rng.choice(data.investors).id,
                amount_cents=amount_cents,
                investment_date=start + timedelta(days=rng.randrange(span)),
                created_at=_moment(rng, index),
            )
        )
    for fund in data.funds:  # a cap is never below what was committed
        if fund.hard_cap_cents is not None and fund.hard_cap_cents < fund.committed_cents:
            fund.hard_cap_cents = fund.committed_cents
    return data
