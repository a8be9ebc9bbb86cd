"""Who is calling: a principal with a role, and what that role may see.

Roles (SPEC §4):
  ADMIN    everything, including users, API keys and the audit log
  MANAGER  read everything; create and change funds, investors, investments
  ANALYST  read everything; change nothing
  INVESTOR read funds; only its own investor record and investments
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"
    MANAGER = "MANAGER"
    ANALYST = "ANALYST"
    INVESTOR = "INVESTOR"


class PrincipalKind(StrEnum):
    USER = "USER"
    API_KEY = "API_KEY"
    ANONYMOUS = "ANONYMOUS"


READERS = frozenset({Role.ADMIN, Role.MANAGER, Role.ANALYST, Role.INVESTOR})
WRITERS = frozenset({Role.ADMIN, Role.MANAGER})
ADMINS = frozenset({Role.ADMIN})
SEE_EMAILS = frozenset({Role.ADMIN, Role.MANAGER})


@dataclass(frozen=True, slots=True)
class Viewer:
    """What a principal may read: which investor rows, and whose email addresses.

    `restricted` limits investors and investments to `investor_id`'s own (none
    when it is None); funds are readable by every reader. Repositories apply
    this to every statement, whatever the resolver above them forgets.
    """

    investor_id: uuid.UUID | None = None
    restricted: bool = False
    sees_all_emails: bool = True

    def sees_email_of(self, investor_id: uuid.UUID) -> bool:
        return self.sees_all_emails or (
            self.investor_id is not None and self.investor_id == investor_id
        )

    @property
    def scope_key(self) -> str:
        """Identifies what this viewer can see (caches are shared only within a scope)."""
        if self.restricted:
            return f"investor:{self.investor_id}"
        return "all" if self.sees_all_emails else "all-without-emails"


EVERYTHING = Viewer()
NOTHING = Viewer(investor_id=None, restricted=True, sees_all_emails=False)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: uuid.UUID | None = None
    role: Role | None = None
    investor_id: uuid.UUID | None = None
    email: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS

    def has_role(self, roles: frozenset[Role]) -> bool:
        return self.role is not None and self.role in roles

    @property
    def viewer(self) -> Viewer:
        """INVESTORs see only their own investor record (none if not linked yet);
        emails are for ADMIN, MANAGER and the investor itself (SPEC §4)."""
        if self.role is Role.INVESTOR:
            return Viewer(investor_id=self.investor_id, restricted=True, sees_all_emails=False)
        if self.role in SEE_EMAILS:
            return EVERYTHING
        if self.role in READERS:
            return Viewer(sees_all_emails=False)
        return NOTHING


ANONYMOUS = Principal(kind=PrincipalKind.ANONYMOUS)
