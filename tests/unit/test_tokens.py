"""Token verification: real signatures with PyJWT, every way a token can be wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from agent.server.tokens import AuthConfigError, Caller, InvalidToken, caller_for, load_settings
from tests.conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, mint

JWT_ENV = {"ENGRAM_AUTH": "jwt", "ENGRAM_JWT_SECRET": JWT_SECRET,
           "ENGRAM_JWT_ISSUER": JWT_ISSUER, "ENGRAM_JWT_AUDIENCE": JWT_AUDIENCE}


def test_a_valid_token_gives_its_caller() -> None:
    config = load_settings(JWT_ENV)
    assert caller_for(mint("alice", "acme"), config) == Caller("alice", "acme", "member")
    assert caller_for(mint("dana", "acme", "admin"), config).role == "admin"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: mint("alice", "acme", ttl_s=-120), "token expired"),
        (lambda: mint("alice", "acme", nbf=int(time.time()) + 600), "not valid yet"),
        (lambda: mint("alice", "acme", aud="another-service"), "another audience"),
        (lambda: mint("alice", "acme", iss="https://evil.example"), "unknown issuer"),
        (lambda: mint("alice", "acme", key="x" * 48), "invalid token"),
        (lambda: mint("alice", "acme")[:-4] + "AAAA", "invalid token"),
        (lambda: mint("alice", "acme", role="owner"), "unknown role"),
        (lambda: mint("alice", ""), "`sub` and `org`"),
        (lambda: jwt.encode({"sub": "alice", "org": "acme", "iss": JWT_ISSUER,
                             "aud": JWT_AUDIENCE}, JWT_SECRET, algorithm="HS256"), "invalid token"),
        (lambda: jwt.encode({"sub": "alice", "org": "acme", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
                             "exp": int(time.time()) + 60}, None, algorithm="none"),
         "invalid token"),
        (lambda: "not.a.jwt", "invalid token"),
    ],
    ids=["expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "wrong-key",
         "tampered-signature", "unknown-role", "no-org", "no-exp", "alg-none", "garbage"],
)
def test_a_bad_token_is_refused_with_the_reason(token: Any, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        caller_for(token(), load_settings(JWT_ENV))


def test_rs256_with_a_pem_key_and_es256_with_a_jwks_file(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    claims = {"sub": "alice", "org": "acme", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
              "exp": int(time.time()) + 60}
    pem_env = {**JWT_ENV, "ENGRAM_JWT_SECRET": "", "ENGRAM_JWT_PUBLIC_KEY": pem}
    assert caller_for(jwt.encode(claims, rsa_key, algorithm="RS256"),
                      load_settings(pem_env)).user_id == "alice"
    # An HS256 token signed with the public key as secret (the classic confusion) is refused.
    with pytest.raises(InvalidToken):
        caller_for(jwt.encode(claims, "k" * 64, algorithm="HS256"), load_settings(pem_env))

    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    jwks_env = {**JWT_ENV, "ENGRAM_JWT_SECRET": "",
                "ENGRAM_JWT_JWKS_FILE": str(tmp_path / "jwks.json")}
    token = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "k1"})
    assert caller_for(token, load_settings(jwks_env)).org_id == "acme"
    other = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                       headers={"kid": "k1"})
    with pytest.raises(InvalidToken):
        caller_for(other, load_settings(jwks_env))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set ENGRAM_AUTH=jwt"),
        ({"ENGRAM_DEV_TOKENS": "t=alice@acme"}, "set ENGRAM_AUTH=jwt"),
        ({**JWT_ENV, "ENGRAM_DEV_TOKENS": "t=alice@acme"}, "remove the dev tokens"),
        ({**JWT_ENV, "ENGRAM_JWT_ISSUER": ""}, "needs ENGRAM_JWT_ISSUER"),
        ({**JWT_ENV, "ENGRAM_JWT_SECRET": "short"}, "at least 32 characters"),
        ({"ENGRAM_AUTH": "dev"}, "needs ENGRAM_DEV_TOKENS"),
        ({"ENGRAM_AUTH": "dev", "ENGRAM_DEV_TOKENS": "t=alice"}, "is not `token=user@org"),
        ({"ENGRAM_AUTH": "dev", "ENGRAM_DEV_TOKENS": "t=alice@acme:root"}, "unknown role"),
    ],
)
def test_contradictory_settings_stop_the_server_with_the_fix(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(AuthConfigError, match=message):
        load_settings(env)


def test_dev_mode_maps_static_tokens_only_when_chosen() -> None:
    config = load_settings({"ENGRAM_AUTH": "dev",
                            "ENGRAM_DEV_TOKENS": "t1=alice@acme,t2=dana@acme:admin"})
    assert caller_for("t2", config) == Caller("dana", "acme", "admin")
    with pytest.raises(InvalidToken):
        caller_for("t3", config)
    with pytest.raises(InvalidToken):
        caller_for(mint("alice", "acme"), config)
