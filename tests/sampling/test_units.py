"""Pure pieces: host policy, key encryption, parameters, retry timing, allocation, Bradley–Terry."""

from __future__ import annotations

import ipaddress
import math
import random
import time
from email.utils import formatdate

import pytest

from apps.sampling.api_keys import (
    ApiKeyUnavailable,
    api_key_decrypt,
    api_key_encrypt,
    api_key_env_check,
)
from apps.sampling.chat_client import RetryPolicy, parse_completion, retry_after_seconds
from apps.sampling.parameters import ParameterError, parameters_clean, parameters_hash, request_body
from apps.sampling.strategies import Vote, allocate_weighted, bradley_terry, stratified_pick
from apps.sampling.url_policy import BadEndpointUrl, BlockedAddress, HostPolicy, base_url_clean


def policy(allow=(), deny=("169.254.0.0/16", "fd00:ec2::254/128")) -> HostPolicy:  # type: ignore[no-untyped-def]
    from apps.sampling.url_policy import _split_entries

    allow_networks, allow_hosts = _split_entries(allow)
    deny_networks, deny_hosts = _split_entries(deny)
    return HostPolicy(allow_networks, allow_hosts, deny_networks, deny_hosts)


@pytest.mark.parametrize(
    ("host", "addresses", "allowed"),
    [
        ("metadata", ["169.254.169.254"], False),
        ("mapped", ["::ffff:169.254.169.254"], False),  # IPv4-mapped IPv6 is the same address
        ("aws6", ["fd00:ec2::254"], False),
        ("split", ["10.0.0.1", "169.254.1.1"], False),  # any denied address blocks the name
        ("localhost", ["127.0.0.1", "::1"], True),
        ("api.openai.com", ["104.18.7.192"], True),
    ],
)
def test_default_deny_list(host, addresses, allowed):
    if allowed:
        policy().check(host, addresses)
    else:
        with pytest.raises(BlockedAddress):
            policy().check(host, addresses)


def test_allow_list_hosts_and_networks():
    rules = policy(allow=["*.example.com", "10.0.0.0/8"], deny=["bad.example.com"])
    rules.check("api.example.com", ["93.184.216.34"])
    rules.check("internal", ["10.1.2.3"])
    for host, addresses in [("example.org", ["93.184.216.34"]), ("bad.example.com", ["10.0.0.1"]),
                            ("mixed", ["10.0.0.1", "8.8.8.8"])]:
        with pytest.raises(BlockedAddress):
            rules.check(host, addresses)
    assert ipaddress.ip_address("10.1.2.3") in rules.allow_networks[0]


def test_base_url_is_normalised():
    assert base_url_clean("HTTP://LocalHost:8000/v1/chat/completions/", policy=policy()) == "http://localhost:8000/v1"
    for bad in ["", "localhost:8000", "file:///etc/passwd", "http://a@b/", "http://x/v1?q=1", "http://[::1"]:
        with pytest.raises(BadEndpointUrl):
            base_url_clean(bad, policy=policy(), resolve=False)


def test_keys_are_encrypted_and_bound_to_the_secret(settings):
    token = api_key_encrypt("sk-123")
    assert "sk-123" not in token and api_key_decrypt(token) == "sk-123"
    assert api_key_encrypt("sk-123") != token  # Fernet tokens are randomised
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-" + "x" * 50
    with pytest.raises(ApiKeyUnavailable, match="SECRET_KEY changed"):
        api_key_decrypt(token)
    settings.SECRET_KEY_FALLBACKS = [old_secret]  # Django's rotation: the old key still decrypts
    assert api_key_decrypt(token) == "sk-123"


def test_env_keys_need_the_operators_consent(settings):
    settings.MODEL_ENDPOINT_KEY_ENVS = ["OPENAI_API_KEY@api.openai.com", "LOCAL_KEY"]
    assert api_key_env_check("OPENAI_API_KEY", "api.openai.com") is None
    assert "may only be sent to api.openai.com" in api_key_env_check("OPENAI_API_KEY", "evil.example")
    assert api_key_env_check("LOCAL_KEY", "anything") is None
    assert "MODEL_ENDPOINT_KEY_ENVS" in api_key_env_check("DATABASE_URL", "anything")
    assert "environment variable name" in api_key_env_check("lower-case", "x")


def test_parameters():
    assert parameters_clean({"temperature": 1, "max_tokens": 10.0, "seed": None}) == {"temperature": 1.0, "max_tokens": 10}
    with pytest.raises(ParameterError) as error:
        parameters_clean({"temperature": "hot", "max_tokens": 1.5, "stop": ["a"] * 5, "logit_bias": {}})
    assert set(error.value.errors) == {"temperature", "max_tokens", "stop", "logit_bias"}
    body = request_body(
        model_name="m", messages=[{"role": "system", "content": "own"}, {"role": "user", "content": "q"}],
        parameters={"system_prompt": "ignored: the prompt has its own", "seed": 5}, sample_index=2,
    )
    assert body == {"model": "m", "messages": [{"role": "system", "content": "own"}, {"role": "user", "content": "q"}], "seed": 7}
    assert parameters_hash(model_name="m", parameters={"a": 1, "b": 2}) == parameters_hash(model_name="m", parameters={"b": 2, "a": 1})
    assert parameters_hash(model_name="m", parameters={}) != parameters_hash(model_name="n", parameters={})


def test_retry_timing():
    assert retry_after_seconds("3") == 3.0
    assert 8 <= retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) <= 10.5
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    retry = RetryPolicy(max_attempts=5, backoff_base=1.0, backoff_max=6.0, retry_after_max=30)
    rng = random.Random(1)
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (3, 6), (3, 6)], start=1):
        assert low <= retry.delay(attempt, None, rng) <= high  # exponential with jitter, capped
    assert 30 <= retry.delay(1, 500, rng) <= 31  # Retry-After honoured up to the cap


def test_malformed_responses_are_named():
    assert parse_completion(b'{"choices": [{"message": {"content": "hi"}, "finish_reason": "length"}]}').finish_reason == "length"
    for body, message in [
        (b'{"choices": [', "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"choices": []}', "no choices"),
        (b'{"choices": [{"message": {"content": null}}]}', "content is missing"),
    ]:
        with pytest.raises(Exception, match=message):
            parse_completion(body)


def test_weighted_allocation_respects_capacity_and_budget():
    rng = random.Random(0)
    assert allocate_weighted({"a": 10, "b": 10}, {"a": 1, "b": 1}, 7, rng) in ({"a": 4, "b": 3}, {"a": 3, "b": 4})
    assert allocate_weighted({"a": 2, "b": 100}, {"a": 1, "b": 1}, 50, rng) == {"a": 2, "b": 48}
    assert allocate_weighted({"a": 5, "b": 5}, {"a": 3, "b": 1}, 100, rng) == {"a": 5, "b": 5}
    assert allocate_weighted({"a": 100, "b": 100}, {"a": 3, "b": 1}, 40, rng) == {"a": 30, "b": 10}


def test_stratified_pick_is_seeded_and_even():
    members = [(i, "big" if i < 90 else "small") for i in range(100)]
    picked, counts = stratified_pick(members, 30, seed=1)
    assert counts == {"big": 20, "small": 10}
    assert stratified_pick(members, 30, seed=1)[0] == picked
    assert stratified_pick(members, 30, seed=2)[0] != picked


def test_bradley_terry_recovers_a_known_order():
    truth = {"a": 1.5, "b": 0.5, "c": -0.5, "d": -1.5}
    rng = random.Random(3)
    votes = []
    for _ in range(3000):
        first, second = rng.sample(sorted(truth), 2)
        p = 1 / (1 + math.exp(truth[second] - truth[first]))
        votes.append(Vote(first, second, "a" if rng.random() < p else "b"))
    scores = bradley_terry(sorted(truth), votes, prior=0.1)
    assert sorted(scores, key=scores.get, reverse=True) == ["a", "b", "c", "d"]
    assert abs((scores["a"] - scores["d"]) - 3.0) < 0.4
    # Ties count half each way; no votes at all means everyone is equal.
    assert bradley_terry(["x", "y"], [Vote("x", "y", "tie")] * 10) == {"x": 0.0, "y": 0.0}
    assert bradley_terry(["x", "y"], []) == {"x": 0.0, "y": 0.0}
