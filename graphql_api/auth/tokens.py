"""Access tokens: short-lived JWTs signed with the server's secret (HS256).

Verification pins the algorithm (no `alg: none`, no key confusion), and
requires expiry, issue time, issuer, audience, subject and token id. Whatever
a token claims, the role that counts is the one stored for the user now.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti", "role")


class InvalidTokenError(Exception):
    """The token is not one we issued, or no longer valid; the message says which."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    secret: str
    issuer: str
    audience: str
    lifetime: timedelta

    def issue(
        self, user_id: uuid.UUID, role: str, now: datetime, lifetime: timedelta | None = None
    ) -> str:
        claims = {
            "sub": str(user_id),
            "role": role,
            # Milliseconds, not whole seconds: a session ended at 10.7 s must
            # refuse a token issued at 10.2 s (RFC 7519 allows a fractional date).
            "iat": math.floor(now.timestamp() * 1000) / 1000,
            "exp": int((now + (lifetime or self.lifetime)).timestamp()),
            "iss": self.issuer,
            "aud": self.audience,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify_or_none(self, token: str) -> AccessClaims | None:
        try:
            return self.verify(token)
        except InvalidTokenError:
            return None

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
                leeway=5,
            )
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                role=str(claims["role"]),
                token_id=str(claims["jti"]),
                issued_at=datetime.fromtimestamp(float(claims["iat"]), tz=UTC),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidTokenError("The access token has expired; refresh it.") from error
        except (jwt.InvalidTokenError, ValueError, TypeError) as error:
            raise InvalidTokenError("The access token is not valid.") from error
