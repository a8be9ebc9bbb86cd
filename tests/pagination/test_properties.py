"""Property-based tests of the cursor codec and of the Decimal and DateTime scalars.

Pure functions, no database: each runs once. The properties are the promises
clients rely on: a cursor the server made decodes to the values it encodes,
and any text a client sends is either understood exactly or refused cleanly.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from graphql import GraphQLError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphql_api.db.keyset import Ordering
from graphql_api.funds.filters import FundSortField
from graphql_api.funds.service import ordering as fund_ordering
from graphql_api.investments.filters import InvestmentSortField
from graphql_api.investments.service import ordering as investment_ordering
from graphql_api.schema.pagination import decode_cursor, encode_cursor
from graphql_api.schema.scalars import DECIMAL_PATTERN, parse_datetime, parse_decimal

PROPERTIES = settings(
    deadline=None,
    max_examples=50,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# One ordering per kind of sort value: str, int, Decimal, datetime, date (and the uuid id).
ORDERINGS = {
    "name": fund_ordering(((FundSortField.NAME, False),)),
    "vintage year": fund_ordering(((FundSortField.VINTAGE_YEAR, True),)),
    "target size": fund_ordering(((FundSortField.TARGET_SIZE_USD, False),)),
    "created at": fund_ordering(((FundSortField.CREATED_AT, True),)),
    "investment date": investment_ordering(((InvestmentSortField.INVESTMENT_DATE, False),)),
}

offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime.fromisoformat("1900-01-01T00:00:00"),
    max_value=datetime.fromisoformat("9000-12-31T23:59:59"),
    timezones=offsets,
)
# Amounts as stored: whole cents, within what the columns hold.
amounts = st.integers(min_value=-(10**17), max_value=10**17).map(lambda c: Decimal(c).scaleb(-2))
# Names as stored: no control characters (the API refuses them), any other Unicode,
# up to the 255 characters a name may have (four-byte characters make the longest cursors).
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=255)
VALUES = {
    "name": names,
    "vintage year": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    "target size": amounts,
    "created at": aware_datetimes,
    "investment date": st.dates(),
}


def _is_bad_user_input(error: GraphQLError) -> bool:
    return (error.extensions or {}).get("code") == "BAD_USER_INPUT"


def _decode(cursor: str, ordering: Ordering) -> tuple[Any, ...] | GraphQLError:
    """The decoded values, or the GraphQL error (any other exception escapes)."""
    try:
        return decode_cursor(cursor, ordering, "after")
    except GraphQLError as error:
        return error


def _decodes_or_refuses(cursor: str, ordering: Ordering) -> None:
    outcome = _decode(cursor, ordering)
    if isinstance(outcome, GraphQLError):
        assert _is_bad_user_input(outcome), outcome.extensions
        assert "not a valid cursor" in outcome.message


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


class TestCursorCodec:
    @pytest.mark.parametrize("kind", list(ORDERINGS))
    def test_a_cursor_decodes_to_the_values_it_encodes(self, kind: str) -> None:
        ordering = ORDERINGS[kind]

        @PROPERTIES
        @given(value=VALUES[kind], key=st.uuids())
        def round_trip(value: Any, key: uuid.UUID) -> None:
            # Given a cursor for a row with these sort-key values
            cursor = encode_cursor(ordering, (value, key))

            # When it is decoded for the same ordering
            decoded = decode_cursor(cursor, ordering, "after")

            # Then the values come back exactly, with their types
            assert decoded == (value, key)
            assert [type(item) for item in decoded] == [type(value), uuid.UUID]
            if isinstance(value, datetime):  # the same instant, in UTC as stored
                assert decoded[0].utcoffset() == timedelta(0)

        round_trip()

    def test_a_cursor_is_refused_by_every_other_ordering(self) -> None:
        @PROPERTIES
        @given(value=st.integers(min_value=1900, max_value=2100), key=st.uuids())
        def refused_elsewhere(value: int, key: uuid.UUID) -> None:
            cursor = encode_cursor(ORDERINGS["vintage year"], (value, key))

            for kind, ordering in ORDERINGS.items():
                if kind != "vintage year":
                    with pytest.raises(GraphQLError) as refused:
                        decode_cursor(cursor, ordering, "before")
                    assert _is_bad_user_input(refused.value)

        refused_elsewhere()

    @PROPERTIES
    @given(text=st.text(max_size=300))
    def test_decoding_random_text_only_ever_refuses_as_bad_user_input(self, text: str) -> None:
        for ordering in ORDERINGS.values():
            _decodes_or_refuses(text, ordering)

    @PROPERTIES
    @given(raw=st.binary(max_size=700))
    def test_decoding_random_base64_only_ever_refuses_as_bad_user_input(self, raw: bytes) -> None:
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")

        for ordering in ORDERINGS.values():
            _decodes_or_refuses(cursor, ordering)

    @PROPERTIES
    @given(kind=st.sampled_from(list(ORDERINGS)), values=json_values)
    def test_decoding_forged_json_only_ever_refuses_as_bad_user_input(
        self, kind: str, values: Any
    ) -> None:
        # Given a cursor with the right ordering but arbitrary JSON for its values
        ordering = ORDERINGS[kind]
        payload = orjson.dumps([ordering.fingerprint, values])
        cursor = base64.urlsafe_b64encode(payload).decode()

        # Then decoding either yields values of the ordering's kinds or refuses cleanly
        outcome = _decode(cursor, ordering)
        if isinstance(outcome, GraphQLError):
            assert _is_bad_user_input(outcome), outcome.extensions
        else:
            assert [type(value) for value in outcome] == list(ordering.kinds)


class TestDecimalScalar:
    @PROPERTIES
    @given(
        digits=st.integers(min_value=-(10**30) + 1, max_value=10**30 - 1),
        places=st.integers(min_value=0, max_value=30),
    )
    def test_a_plain_decimal_string_parses_to_exactly_that_number(
        self, digits: int, places: int
    ) -> None:
        # Given a number of up to 30 significant digits, written out plainly
        amount = Decimal(f"{digits}E-{places}")
        text = f"{amount:f}"

        parsed = parse_decimal(text)

        assert parsed == amount
        assert f"{parsed:f}" == text

    @PROPERTIES
    @given(number=st.integers())
    def test_a_json_integer_parses_to_exactly_that_number(self, number: int) -> None:
        assert parse_decimal(number) == Decimal(number)

    @PROPERTIES
    @given(
        text=st.text(max_size=70)
        | st.from_regex(r"[ +-]?\d{0,32}(\.\d{0,32})?[eE ]?", fullmatch=True)
    )
    def test_any_text_parses_exactly_or_raises_value_error(self, text: str) -> None:
        try:
            parsed = parse_decimal(text)
        except ValueError:
            assert not DECIMAL_PATTERN.fullmatch(text.strip())
        else:
            assert DECIMAL_PATTERN.fullmatch(text.strip())
            assert parsed == Decimal(text.strip())
            assert parsed.is_finite()

    @pytest.mark.parametrize("value", [1.5, 0.1, True, None, [], {"amount": "1"}])
    def test_values_that_are_not_text_or_integers_are_refused(self, value: object) -> None:
        with pytest.raises(ValueError, match="Decimal"):
            parse_decimal(value)

    @pytest.mark.parametrize("text", ["NaN", "Infinity", "-inf", "1e5", "1,000.00", "0x10", ""])
    def test_special_and_formatted_numbers_are_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match="not a decimal number"):
            parse_decimal(text)


class TestDateTimeScalar:
    @PROPERTIES
    @given(moment=aware_datetimes)
    def test_an_iso_string_with_an_offset_parses_to_the_same_instant_in_utc(
        self, moment: datetime
    ) -> None:
        parsed = parse_datetime(moment.isoformat())

        assert parsed == moment
        assert parsed.utcoffset() == timedelta(0)

    @PROPERTIES
    @given(moment=st.datetimes())
    def test_an_iso_string_without_an_offset_is_taken_as_utc(self, moment: datetime) -> None:
        assert parse_datetime(moment.isoformat()) == moment.replace(tzinfo=UTC)

    @PROPERTIES
    @given(
        text=st.text(max_size=80)
        | st.from_regex(
            r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?([+-]\d{2}:\d{2}|Z)?",
            fullmatch=True,
        )
    )
    def test_any_text_parses_to_an_aware_utc_moment_or_raises_value_error(self, text: str) -> None:
        try:
            parsed = parse_datetime(text)
        except ValueError:
            return
        assert parsed.utcoffset() == timedelta(0)
        assert parsed == _as_utc(datetime.fromisoformat(text))

    @pytest.mark.parametrize(
        "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "x" * 65, 1700000000]
    )
    def test_out_of_range_or_non_text_values_raise_value_error(self, value: object) -> None:
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_datetime(value)

    def test_a_date_alone_means_midnight_utc(self) -> None:
        assert parse_datetime("2024-02-29") == datetime(2024, 2, 29, tzinfo=UTC)
        assert date(2024, 2, 29) == parse_datetime("2024-02-29").date()


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
