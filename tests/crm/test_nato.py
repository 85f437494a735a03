"""The NATO member states the campaign measures its coverage against."""

from crm.nato import is_member, member_codes, member_states


def test_it_knows_the_thirty_two_member_states_with_their_accession():
    states = {state.code: state for state in member_states()}
    assert len(states) == 32
    assert (
        states["FI"].accession_year,
        states["SE"].accession_year,
        states["US"].accession_year,
    ) == (2023, 2024, 1949)
    assert member_codes() == frozenset(states)


def test_it_tells_members_from_other_countries():
    assert is_member("mk")
    assert not is_member("CH")
