"""Who calls: the columns of the authorization matrix.

Each principal is a token as the gateway would mint it (subject, role, fund, network, member,
scopes), described against the world (``tests/authz/world.py``): fund A, whose objects fill the
paths, and fund B, another fund in another network. The objects in a path are member A1's (and
collector A1's, who took A1's deposit), so ``member`` acts on their own objects and
``member_other`` (member A2) on another member's; ``collector_other`` is a second collector of A.

Integration clients are separate grant systems, one per scope the code checks (and one with a
scope it does not check, to show a scope is not a role, and one with no scope, who sees nothing):
``integration_read`` owns the world's webhook subscription, the others do not. Service tokens are minted as the gateway mints them for each
service's client credentials (``sub`` ``svc-<name>``, scope ``service:<name>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Role


@dataclass(frozen=True)
class Principal:
    key: str
    label: str
    role: Role | None
    #: "A" or "B": the fund a fund role is bound to.
    fund: str | None = None
    #: The world's name of the member a member token is bound to (``A1``...).
    member: str | None = None
    #: The subject: a world user's name (``user:A1``), or a literal.
    subject: str | None = None
    #: "N1" (fund A's network) or "N2" (fund B's).
    network: str | None = None
    scopes: tuple[str, ...] = ()
    #: "X" (the grantor of the world's program) or "Y" (another grantor): whom an officer or a
    #: grant system acts for.
    grantor: str | None = None
    #: For a narrowed client: the world's names of the programs it is narrowed to.
    programs: tuple[str, ...] | None = None


#: Scopes the code checks (``services/grants/access.py``); a test holds this list to the code.
CHECKED_SCOPES = ("grants:decide", "grants:disburse")
#: A scope clients are given that no route checks.
UNCHECKED_SCOPES = ("grants:read",)
#: The scope of the client that owns the world's webhook subscription (``integration_read``).
WEBHOOK_OWNER_SCOPE = "grants:read"

SERVICES = ("gateway", "members", "ledger", "benefits", "grants")

PRINCIPALS: tuple[Principal, ...] = (
    Principal("anonymous", "no token", None),
    Principal("member", "member A1 of fund A, on their own objects", Role.member, fund="A", member="A1", subject="user:A1"),
    Principal("member_other", "member A2 of fund A, on member A1's objects", Role.member, fund="A", member="A2", subject="user:A2"),
    Principal("collector", "collector A1 of fund A, who took the deposit and has A1 in their round", Role.collector, fund="A",
              subject="user:collector-A1"),
    Principal("collector_other", "collector A2 of fund A, on collector A1's objects", Role.collector, fund="A",
              subject="user:collector-A2"),
    Principal("committee", "a committee member of fund A", Role.committee, fund="A", subject="user:committee-A"),
    Principal("fund_admin", "a fund admin of fund A", Role.fund_admin, fund="A", subject="user:admin-A"),
    Principal("member_b", "member B1 of fund B", Role.member, fund="B", member="B1", subject="user:B1"),
    Principal("collector_b", "collector B1 of fund B", Role.collector, fund="B", subject="user:collector-B1"),
    Principal("committee_b", "a committee member of fund B", Role.committee, fund="B", subject="user:committee-B"),
    Principal("fund_admin_b", "a fund admin of fund B", Role.fund_admin, fund="B", subject="user:admin-B"),
    Principal("network_officer", "an officer of network N1, fund A's", Role.network_officer, network="N1",
              subject="user:officer-N1"),
    Principal("network_officer_other", "an officer of network N2, fund B's (not A's)", Role.network_officer, network="N2",
              subject="user:officer-N2"),
    Principal("grant_officer", "a grant officer of grantor X (CODI), whose program fund A applied to", Role.grant_officer,
              subject="user:grant-officer", grantor="X"),
    Principal("grant_officer_y", "a grant officer of grantor Y (a provincial office), another grantor", Role.grant_officer,
              subject="user:grant-officer-y", grantor="Y"),
    Principal("platform_admin", "a platform admin", Role.platform_admin, subject="user:platform-admin"),
    Principal("integration", "a grant system's client of grantor X with no scope (sees nothing)", Role.integration,
              subject="cli-authz-no-scope", grantor="X"),
    *(
        Principal(f"integration_{scope.split(':')[1]}", f"a grant system's client of grantor X with {scope}"
                  + (" (owns the webhook subscription)" if scope == WEBHOOK_OWNER_SCOPE else ""), Role.integration,
                  subject="cli-authz-owner" if scope == WEBHOOK_OWNER_SCOPE else f"cli-authz-{scope.split(':')[1]}",
                  scopes=(scope,), grantor="X")
        for scope in UNCHECKED_SCOPES + CHECKED_SCOPES
    ),
    Principal("integration_grantor_y", "a grant system's client of grantor Y with every scope", Role.integration,
              subject="cli-authz-grantor-y", scopes=UNCHECKED_SCOPES + CHECKED_SCOPES, grantor="Y"),
    Principal("integration_narrowed", "a grant system's client of grantor X with every scope, narrowed to another of "
              "X's programs", Role.integration, subject="cli-authz-narrowed", scopes=UNCHECKED_SCOPES + CHECKED_SCOPES,
              grantor="X", programs=("program:other",)),
    *(Principal(f"service_{name}", f"the {name} service's token", Role.service, subject=f"svc-{name}",
                scopes=(f"service:{name}",)) for name in SERVICES),
)

BY_KEY = {p.key: p for p in PRINCIPALS}
KEYS = tuple(BY_KEY)
