"""The search language: what it accepts, what it refuses, and that to_search inverts it."""

import contextlib
from datetime import UTC, datetime
from ipaddress import ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.audits.exceptions import InvalidSearchQuery
from src.audits.filters import DetailsMatch, EventFilter, parse_search, to_search
from src.events.constants import ActionType, EventStatus


def test_every_term_kind() -> None:
    parsed = parse_search(
        "action:user.login action_type:login action_type:logout entity:repository/repo_42 actor:user_7 "
        "status:failure after:2026-11-01 before:2026-11-21T10:00:00Z ip:203.0.113.0/24 "
        'details.reason:cleanup details.count:3 details.a.b:"x y" bare "a phrase"'
    )
    assert parsed == EventFilter(
        action="user.login",
        action_types=(ActionType.LOGIN, ActionType.LOGOUT),
        entity_type="repository",
        entity_id="repo_42",
        actor_id="user_7",
        status=EventStatus.FAILURE,
        occurred_after=datetime(2026, 11, 1, tzinfo=UTC),
        occurred_before=datetime(2026, 11, 21, 10, tzinfo=UTC),
        ip=ip_network("203.0.113.0/24"),
        details=(
            DetailsMatch(path=("reason",), value="cleanup"),
            DetailsMatch(path=("count",), value=3),
            DetailsMatch(path=("a", "b"), value="x y"),
        ),
        text=("bare", "a phrase"),
    )


def test_empty_query_is_no_filter() -> None:
    assert parse_search("   ") == EventFilter()


def test_quoted_values_stay_strings() -> None:
    assert parse_search('details.count:"3"').details == (DetailsMatch(path=("count",), value="3"),)
    assert parse_search("details.flag:true").details == (DetailsMatch(path=("flag",), value=True),)
    assert parse_search(r'"say \"hi\""').text == ('say "hi"',)


@pytest.mark.parametrize(
    "query",
    [
        "unknown:x",
        "action_type:nope",
        "status:nope",
        "after:2026-13-01",
        "after:2026-11-01T10:00:00",
        "ip:300.0.0.1",
        "entity:noslash",
        "entity:/id",
        "actor:",
        '"open',
        'actor:"open',
        'a"b',
        "actor:a actor:b",
        "action:UPPER",
        "details..x:1",
        "details.x.:1",
        "x" * 300,
        "nul\x00byte",
    ],
)
def test_malformed_queries_name_a_term(query: str) -> None:
    with pytest.raises(InvalidSearchQuery) as raised:
        parse_search(query)
    assert raised.value.term
    assert raised.value.term in query or query.startswith(raised.value.term[:20])


safe_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=20
)
filters = st.builds(
    EventFilter,
    action_types=st.lists(st.sampled_from(list(ActionType)), max_size=3).map(tuple),
    action=st.none() | st.from_regex(r"[a-z0-9_]{1,8}(\.[a-z0-9_]{1,8}){0,2}", fullmatch=True),
    entity_type=st.none() | safe_text,
    entity_id=st.none() | safe_text,
    actor_id=st.none() | safe_text,
    status=st.none() | st.sampled_from(list(EventStatus)),
    occurred_after=st.none() | st.datetimes(timezones=st.just(UTC)),
    occurred_before=st.none() | st.datetimes(timezones=st.just(UTC)),
    ip=st.none()
    | st.sampled_from(
        [ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"), ip_network("192.0.2.7/32")]
    ),
    details=st.lists(
        st.builds(
            DetailsMatch,
            path=st.lists(
                st.from_regex(r"[a-z_]{1,6}", fullmatch=True), min_size=1, max_size=3
            ).map(tuple),
            value=st.none() | st.booleans() | st.integers() | safe_text,
        ),
        max_size=3,
    ).map(tuple),
    text=st.lists(safe_text, max_size=3).map(tuple),
)


@given(filters)
def test_to_search_round_trips(filter_: EventFilter) -> None:
    assert parse_search(to_search(filter_)) == filter_


@given(st.text(max_size=80))
def test_parser_never_crashes(query: str) -> None:
    with contextlib.suppress(InvalidSearchQuery):
        parse_search(query)
