"""Bearer tokens to callers: signed JWTs in production, static tokens in an explicit dev mode.

Settings (environment, read once when the server loads auth):
- `ENGRAM_AUTH=jwt`: verify JWTs with `ENGRAM_JWT_SECRET` (HS256), `ENGRAM_JWT_PUBLIC_KEY` (a PEM
  public key, RS256/ES256) or `ENGRAM_JWT_JWKS_FILE` (a JWKS document on disk, keys chosen by
  `kid`). `ENGRAM_JWT_ISSUER` and `ENGRAM_JWT_AUDIENCE` are required; `exp` is required, `nbf`
  and `iat` are checked when present. Claims: `sub` (user), `org`, `role` (member | admin |
  service; `service` is for retention jobs: it may list, read and delete threads, nothing else).
- `ENGRAM_AUTH=dev`: static tokens `ENGRAM_DEV_TOKENS="token=user@org[:role],..."`, for local use.
  Dev tokens are refused unless dev mode is chosen explicitly.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jwt

from agent.memory.model.schema import Identity

Role = Literal["member", "admin", "service"]
ROLES: tuple[Role, ...] = ("member", "admin", "service")
LEEWAY_S = 30


class AuthConfigError(RuntimeError):
    """The server's auth settings are missing or contradictory."""


class InvalidToken(ValueError):
    """A token that proves nothing; the message is safe to show the caller."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: who, in which organisation, with which role."""

    user_id: str
    org_id: str
    role: Role

    @property
    def identity(self) -> Identity:
        """The owner identity of the caller's memories and threads."""
        return Identity(user_id=self.user_id, org_id=self.org_id)


@dataclass(frozen=True)
class Settings:
    """Resolved auth settings."""

    mode: Literal["jwt", "dev"]
    dev_tokens: dict[str, Caller]
    keys: dict[str | None, Any]
    algorithms: list[str]
    issuer: str
    audience: str


def _role(value: Any) -> Role:
    role = value or "member"
    if role not in ROLES:
        raise InvalidToken(f"unknown role {role!r}")
    return role


def parse_dev_tokens(spec: str) -> dict[str, Caller]:
    """`token=user@org[:role],...` to callers."""
    tokens: dict[str, Caller] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        token, _, who = entry.partition("=")
        user, _, rest = who.partition("@")
        org, _, role = rest.partition(":")
        if not token or not user or not org:
            raise AuthConfigError(f"ENGRAM_DEV_TOKENS entry {entry!r} is not `token=user@org[:role]`")
        try:
            tokens[token] = Caller(user, org, _role(role))
        except InvalidToken as err:
            raise AuthConfigError(f"ENGRAM_DEV_TOKENS entry {entry!r}: {err}") from err
    return tokens


def _jwt_keys(env: dict[str, str]) -> tuple[dict[str | None, Any], list[str]]:
    if secret := env.get("ENGRAM_JWT_SECRET", ""):
        if len(secret) < 32:
            raise AuthConfigError("ENGRAM_JWT_SECRET must be at least 32 characters")
        return {None: secret}, ["HS256"]
    if pem := env.get("ENGRAM_JWT_PUBLIC_KEY", ""):
        return {None: pem.replace("\\n", "\n")}, ["RS256", "ES256"]
    if path := env.get("ENGRAM_JWT_JWKS_FILE", ""):
        try:
            document = json.loads(Path(path).read_text())
            keys = {k.get("kid"): jwt.PyJWK.from_dict(k).key for k in document["keys"]}
        except (OSError, ValueError, KeyError, jwt.PyJWKError) as err:
            raise AuthConfigError(f"ENGRAM_JWT_JWKS_FILE {path}: {err}") from err
        return keys, ["RS256", "ES256"]
    raise AuthConfigError(
        "ENGRAM_AUTH=jwt needs ENGRAM_JWT_SECRET, ENGRAM_JWT_PUBLIC_KEY or ENGRAM_JWT_JWKS_FILE"
    )


def load_settings(env: dict[str, str]) -> Settings:
    """Resolve and check the auth settings; a contradiction fails the server's start."""
    mode = env.get("ENGRAM_AUTH", "").strip()
    dev_spec = env.get("ENGRAM_DEV_TOKENS", "").strip()
    if mode == "dev":
        tokens = parse_dev_tokens(dev_spec)
        if not tokens:
            raise AuthConfigError("ENGRAM_AUTH=dev needs ENGRAM_DEV_TOKENS=token=user@org,...")
        return Settings("dev", tokens, {}, [], "", "")
    if mode != "jwt":
        raise AuthConfigError(
            "set ENGRAM_AUTH=jwt (production, see .env.example) or ENGRAM_AUTH=dev (local only)"
        )
    if dev_spec:
        raise AuthConfigError("ENGRAM_DEV_TOKENS is set but ENGRAM_AUTH=jwt: remove the dev tokens")
    issuer, audience = env.get("ENGRAM_JWT_ISSUER", ""), env.get("ENGRAM_JWT_AUDIENCE", "")
    if not issuer or not audience:
        raise AuthConfigError("ENGRAM_AUTH=jwt needs ENGRAM_JWT_ISSUER and ENGRAM_JWT_AUDIENCE")
    keys, algorithms = _jwt_keys(env)
    return Settings("jwt", {}, keys, algorithms, issuer, audience)


@cache
def settings() -> Settings:
    """The server's auth settings, from its environment (read once)."""
    return load_settings(dict(os.environ))


def _dev_caller(config: Settings, token: str) -> Caller:
    found = None
    for known, caller in config.dev_tokens.items():
        # Compare every token in constant time so a timing probe learns nothing.
        if hmac.compare_digest(known.encode(), token.encode()):
            found = caller
    if found is None:
        raise InvalidToken("invalid token")
    return found


def _jwt_caller(config: Settings, token: str) -> Caller:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = config.keys.get(kid) if kid in config.keys else config.keys.get(None)
        if key is None:
            raise InvalidToken("unknown signing key")
        claims = jwt.decode(
            token, key, algorithms=config.algorithms, audience=config.audience,
            issuer=config.issuer, leeway=LEEWAY_S,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as err:
        raise InvalidToken("token expired") from err
    except jwt.ImmatureSignatureError as err:
        raise InvalidToken("token not valid yet") from err
    except jwt.InvalidAudienceError as err:
        raise InvalidToken("token is for another audience") from err
    except jwt.InvalidIssuerError as err:
        raise InvalidToken("token from an unknown issuer") from err
    except jwt.PyJWTError as err:
        raise InvalidToken("invalid token") from err
    user, org = claims.get("sub"), claims.get("org")
    if not isinstance(user, str) or not user or not isinstance(org, str) or not org:
        raise InvalidToken("token needs `sub` and `org` claims")
    return Caller(user, org, _role(claims.get("role")))


def caller_for(token: str, config: Settings | None = None) -> Caller:
    """The caller a bearer token proves, or InvalidToken."""
    config = config or settings()
    if config.mode == "dev":
        return _dev_caller(config, token)
    return _jwt_caller(config, token)
