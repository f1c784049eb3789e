"""config/precompiled.py: a queryset compiled once per process, run with each call's own values."""

import pytest
from knox.settings import CONSTANTS

from accounts.selectors import api_tokens_for_key
from accounts.services import api_token_create
from config.precompiled import PrecompiledQuery
from surveys.models import Edition


def test_each_call_runs_with_its_own_values_and_reads_vetting_afresh(officer_alice, pending_pete):
    alice_key = api_token_create(user=officer_alice)[: CONSTANTS.TOKEN_KEY_LENGTH]
    pete_key = api_token_create(user=pending_pete)[: CONSTANTS.TOKEN_KEY_LENGTH]
    for _ in range(2):  # the second round runs the SQL compiled by the first
        (alice_token,) = api_tokens_for_key(alice_key)
        (pete_token,) = api_tokens_for_key(pete_key)
        assert (alice_token.user, alice_token.user._is_vetted_officer) == (officer_alice, True)
        assert (pete_token.user, pete_token.user._is_vetted_officer) == (pending_pete, False)
        assert alice_token.user.email == "alice@police.example" and alice_token.expiry is not None
    assert api_tokens_for_key("no-such-key") == []
    officer_alice.officer_profile.vetting_status = "rejected"
    officer_alice.officer_profile.save()
    assert api_tokens_for_key(alice_key)[0].user._is_vetted_officer is False


def test_a_marker_that_does_not_become_a_parameter_is_refused(db):
    sliced = PrecompiledQuery(lambda n: Edition.objects.values_list("pk")[:n], n=987_654_321)
    with pytest.raises(ValueError, match="markers not among"):
        sliced.rows(n=1)
    query = PrecompiledQuery(lambda pk: Edition.objects.filter(pk=pk).values_list("pk"), pk=-1_234_567)
    with pytest.raises(TypeError, match="expected values"):
        query.rows(other=1)
