"""Who may call a route, as named policies: what a human reviews instead of thousands of cells.

A policy gives each principal of ``tests/authz/principals.py`` an expected answer:

- ``allow``: admitted (the answer is not 401, 403 or 404: what the route then does with the body
  is its own business, a 409 or a 422 included);
- ``401``: no token; ``403``: refused; ``404``: refused as if the object did not exist;
- ``login``: a web page sends a caller without a session to the login form.

A policy names whom it admits; everyone else gets ``default`` (403), but those in ``not_found``
(404: the object is hidden from them). The doc line says who, and why, in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.authz.principals import KEYS

OUTCOMES = ("allow", "401", "403", "404", "login")

# --- Groups of principals ---------------------------------------------------------------------

MEMBER, MEMBER_OTHER = "member", "member_other"
COLLECTOR, COLLECTOR_OTHER = "collector", "collector_other"
COMMITTEE, FUND_ADMIN = "committee", "fund_admin"
NETWORK, NETWORK_OTHER = "network_officer", "network_officer_other"
GRANT_OFFICER, PLATFORM = "grant_officer", "platform_admin"

#: Fund A's people (the fund whose objects fill the paths).
A_PEOPLE = frozenset({MEMBER, MEMBER_OTHER, COLLECTOR, COLLECTOR_OTHER, COMMITTEE, FUND_ADMIN})
A_STAFF = frozenset({COMMITTEE, FUND_ADMIN})
A_MEMBERS = frozenset({MEMBER, MEMBER_OTHER})
A_COLLECTORS = frozenset({COLLECTOR, COLLECTOR_OTHER})
#: Another fund's people.
B_PEOPLE = frozenset({"member_b", "collector_b", "committee_b", "fund_admin_b"})
B_STAFF = frozenset({"committee_b", "fund_admin_b"})
INTEGRATIONS = frozenset(k for k in KEYS if k.startswith("integration"))
#: A grant system's client with no scope: sees nothing.
NO_SCOPE = "integration"
#: The client that owns the world's webhook subscription.
WEBHOOK_CLIENT = "integration_read"
#: Grantor Y's officer and client, and grantor X's client narrowed to another program: the world's
#: program (grantor X's) is not theirs, and it and its applications are hidden from them (404), as
#: from a client with no scope.
GRANT_OFFICER_Y, CLIENT_Y, CLIENT_NARROWED = "grant_officer_y", "integration_grantor_y", "integration_narrowed"
NOT_THEIR_PROGRAM = frozenset({GRANT_OFFICER_Y, CLIENT_Y, CLIENT_NARROWED, NO_SCOPE})
#: Who acts for the world's program's grantor X (platform admins aside).
X_SIDE = (INTEGRATIONS - NOT_THEIR_PROGRAM) | {GRANT_OFFICER}
SERVICES = frozenset(k for k in KEYS if k.startswith("service_"))
SIGNED_IN = frozenset(KEYS) - {"anonymous"}
#: Everyone but fund A's people and the officers of A's network: who may not see fund A at all.
OUTSIDERS = SIGNED_IN - A_PEOPLE - {NETWORK, PLATFORM}


def service(*names: str) -> frozenset[str]:
    """The service tokens of these services."""
    return frozenset(f"service_{name}" for name in names)


@dataclass(frozen=True)
class Policy:
    name: str
    doc: str
    allow: frozenset[str]
    not_found: frozenset[str] = frozenset()
    default: str = "403"
    #: What a caller without a token gets.
    anonymous: str = "401"
    #: Exceptions, principal -> outcome, said in ``doc``.
    special: dict[str, str] = field(default_factory=dict)
    #: Callers outside fund A (another fund's people, another network's officers, grant officers
    #: and systems, services) who see fund A's objects here, as they should (a grant system reads
    #: every application): their refusal may tell that an object exists, their answer may show it.
    #: Any other caller outside fund A is refused as for an object that does not exist, and
    #: admitted to nothing of fund A's.
    sees: frozenset[str] = frozenset()

    def expected(self, principal: str) -> str:
        if principal in self.special:
            return self.special[principal]
        if principal == "anonymous":
            return self.anonymous
        if principal in self.allow:
            return "allow"
        if principal in self.not_found:
            return "404"
        return self.default

    def row(self) -> dict[str, str]:
        return {key: self.expected(key) for key in KEYS}


def _policies(*made: Policy) -> dict[str, Policy]:
    return {p.name: p for p in made}


#: In fund A's members service, fund A is hidden (404 ``fund.not_found``) from everyone who may not
#: see it; a member or collector the caller may not see is a 404 too.
MEMBERS_HIDDEN = OUTSIDERS

POLICIES: dict[str, Policy] = _policies(
    # --- Open, signed in, platform ----------------------------------------------------------------
    Policy("public", "Anyone, with or without a token: the body carries the credential, or there is "
           "nothing to protect (health, keys, the API's description, the login form).",
           allow=SIGNED_IN, anonymous="allow"),
    Policy("signed_in", "Every signed-in caller; what each sees is filtered to what they may see.", allow=SIGNED_IN),
    Policy("platform_admin", "Platform admins only.", allow=frozenset({PLATFORM})),
    # --- Members: funds and the roll ----------------------------------------------------------
    Policy("fund_creator", "Platform admins, and a network's officers for a fund in their own network (the "
           "body names the network).", allow=frozenset({PLATFORM, NETWORK})),
    Policy("fund_viewer", "The fund's own people, its network's officers and platform admins; the fund is "
           "hidden (404) from everyone else.", allow=A_PEOPLE | {NETWORK, PLATFORM}, not_found=MEMBERS_HIDDEN),
    Policy("fund_writer", "The fund's admins and platform admins; its other people and its network's "
           "officers are refused; hidden from the rest.", allow=frozenset({FUND_ADMIN, PLATFORM}), not_found=MEMBERS_HIDDEN),
    Policy("roll_writer", "The fund's committee and admins, and platform admins (the roll, members' records, "
           "collectors and rounds); hidden from outsiders.", allow=A_STAFF | {PLATFORM}, not_found=MEMBERS_HIDDEN),
    Policy("roll_reader", "The fund's committee and admins, its network's officers, platform admins.",
           allow=A_STAFF | {NETWORK, PLATFORM}, not_found=MEMBERS_HIDDEN),
    Policy("member_viewer", "The member themself, and the roll's readers; another member or a collector is told "
           "there is no such member (404).", allow=A_STAFF | {MEMBER, NETWORK, PLATFORM},
           not_found=MEMBERS_HIDDEN | {MEMBER_OTHER} | A_COLLECTORS),
    Policy("national_id_reader", "The member themself, the fund's committee and admins, platform admins (every "
           "read logged); a network officer, who sees the member, is refused.",
           allow=A_STAFF | {MEMBER, PLATFORM}, not_found=MEMBERS_HIDDEN | {MEMBER_OTHER} | A_COLLECTORS),
    Policy("member_eraser", "The fund's admins and platform admins (erasing a resigned member's data).",
           allow=frozenset({FUND_ADMIN, PLATFORM}), not_found=MEMBERS_HIDDEN),
    Policy("collector_reader", "The fund's committee and admins, its network's officers, platform admins.",
           allow=A_STAFF | {NETWORK, PLATFORM}, not_found=MEMBERS_HIDDEN),
    Policy("own_round", "A collector of the fund, for their own round; anyone else is told there is no such "
           "collector (404).", allow=A_COLLECTORS, not_found=SIGNED_IN - A_COLLECTORS),
    Policy("round_reader", "The collector themself, the fund's committee and admins, its network's officers, "
           "platform admins; anyone else of the fund is told there is no such collector (404).",
           allow=A_STAFF | {COLLECTOR, NETWORK, PLATFORM}, not_found=MEMBERS_HIDDEN | A_MEMBERS | {COLLECTOR_OTHER}),
    # --- Services' internal routes ------------------------------------------------------------
    Policy("member_facts", "The services the service-call table grants members.member_facts (gateway, ledger, "
           "benefits), and platform admins.", allow=service("gateway", "ledger", "benefits") | {PLATFORM}, sees=service("gateway", "ledger", "benefits")),
    Policy("collector_facts", "The ledger service (members.collector_facts), and platform admins.",
           allow=service("ledger") | {PLATFORM}, sees=service("ledger")),
    Policy("fund_facts", "The services granted members.fund_facts (ledger, benefits, grants), and platform admins.",
           allow=service("ledger", "benefits", "grants") | {PLATFORM}, sees=service("ledger", "benefits", "grants")),
    Policy("current_members", "The ledger service (members.current_members), and platform admins.",
           allow=service("ledger") | {PLATFORM}, sees=service("ledger")),
    Policy("roll_changes", "The ledger service (members.roll_changes, which funds' arrears to count again), and platform admins.",
           allow=service("ledger") | {PLATFORM}, sees=service("ledger")),
    Policy("projection_roll", "The benefits service (members.roll, for the sustainability projection), and platform admins.",
           allow=service("benefits") | {PLATFORM}, sees=service("benefits")),
    # --- Ledger ---------------------------------------------------------------------------------
    Policy("deposit_poster", "The fund's collectors (their own money: naming another collector is a 422), "
           "committee and admins, and platform admins.", allow=A_COLLECTORS | A_STAFF | {PLATFORM}),
    Policy("bookkeeper", "The fund's committee and admins, and platform admins.", allow=A_STAFF | {PLATFORM}),
    Policy("co_funding_recorder", "The fund's committee and admins, platform admins, and the grants service "
           "(ledger.co_funding: a grant tranche reaching the fund).", allow=A_STAFF | {PLATFORM} | service("grants"), sees=service("grants")),
    Policy("payout_service", "The benefits service alone (ledger.payout); every person is refused, platform "
           "admins too: a payout is an approved claim's.", allow=service("benefits"), sees=service("benefits")),
    Policy("signatory", "Two persons of the fund: its committee and admins propose and confirm or withdraw "
           "(no platform admin: money moves by the fund's own people).", allow=A_STAFF),
    Policy("second_signatory", "Another person of the fund than the proposer: the world's proposal is the "
           "committee member's, so only the fund admin may confirm it (403 proposal.confirm_own).",
           allow=frozenset({FUND_ADMIN})),
    Policy("year_closer", "The fund's committee alone, carrying out its general meeting's approval (no fund admin, "
           "no platform admin: closing the year is the fund's own act, docs/fiscal-years.md).",
           allow=frozenset({COMMITTEE})),
    Policy("books_reader", "The fund's committee and admins, its network's officers, platform admins.",
           allow=A_STAFF | {NETWORK, PLATFORM}),
    Policy("deposit_feed_reader", "The books' readers, and the gateway service (ledger.deposit_feed, for LINE "
           "receipts).", allow=A_STAFF | {NETWORK, PLATFORM} | service("gateway"), sees=service("gateway")),
    Policy("contributions_reader", "The books' readers, and the grants service (ledger.member_contributions, "
           "for matching grants).", allow=A_STAFF | {NETWORK, PLATFORM} | service("grants"), sees=service("grants")),
    Policy("projection_inputs_reader", "The books' readers, and the benefits service (ledger.projection_inputs, "
           "for the sustainability projection).", allow=A_STAFF | {NETWORK, PLATFORM} | service("benefits"), sees=service("benefits")),
    Policy("collections_reader", "The books' readers, and the fund's collectors (each sees their own day).",
           allow=A_STAFF | A_COLLECTORS | {NETWORK, PLATFORM}),
    Policy("fund_admin", "The fund's admins and platform admins.", allow=frozenset({FUND_ADMIN, PLATFORM})),
    Policy("fund_actor", "Anyone acting in the fund (members, collectors, committee, admins), platform admins.",
           allow=A_PEOPLE | {PLATFORM}),
    Policy("member_books_reader", "The member themself, and the books' readers.",
           allow=A_STAFF | {MEMBER, NETWORK, PLATFORM}),
    Policy("standing_reader", "The member themself, the books' readers, and the benefits service (ledger.standing, "
           "judging a claim).", allow=A_STAFF | {MEMBER, NETWORK, PLATFORM} | service("benefits"), sees=service("benefits")),
    Policy("deposit_reader", "The deposit's member, the collector who took it, and the books' readers; the "
           "fund's other members and collectors are refused.", allow=A_STAFF | {MEMBER, COLLECTOR, NETWORK, PLATFORM}),
    # --- Benefits ---------------------------------------------------------------------------------
    Policy("fund_committee", "The fund's committee and admins, and platform admins.", allow=A_STAFF | {PLATFORM}),
    Policy("claimant", "The member for themself (the body names the member), the fund's committee and admins, "
           "platform admins.", allow=A_STAFF | {MEMBER, PLATFORM}),
    Policy("claims_lister", "The fund's members (their own claims), committee and admins, platform admins; its "
           "collectors are told there are none (404).", allow=A_STAFF | A_MEMBERS | {PLATFORM}, not_found=A_COLLECTORS),
    Policy("audit_feed", "The gateway service only (members/ledger/benefits/grants.audit): each service's audit "
           "events, gathered by the gateway's GET /v1/audit.", allow=service("gateway"), sees=service("gateway")),
    Policy("member_erase", "The members service only (auth/ledger/benefits.member_erase): its erasure worker "
           "carrying a member's erasure to each process (docs/personal-data.md).",
           allow=service("members"), sees=service("members")),
    Policy("member_export", "The gateway service only (members/ledger/benefits.member_export): each service's data "
           "about a member, gathered for the member's download.", allow=service("gateway"), sees=service("gateway")),
    Policy("own_data", "A member, downloading everything Sajja holds about themself; nobody else has data here.",
           allow=frozenset({MEMBER, MEMBER_OTHER, "member_b"})),
    Policy("member_data_reader", "The fund's admins, downloading a member's data on their behalf; the fund's other "
           "people and platform admins are refused; anyone else is told there is no such member (404).",
           allow=frozenset({FUND_ADMIN}), not_found=SIGNED_IN - A_PEOPLE - {PLATFORM}),
    Policy("audit_reader", "Platform admins (every event) and fund admins (their own fund's events only; "
           "another fund is 403): the audit trail of administrative acts.",
           allow=frozenset({FUND_ADMIN, "fund_admin_b", PLATFORM})),
    Policy("claim_feed_reader", "The fund's committee and admins, platform admins, and the gateway service "
           "(benefits.claim_feed, for LINE notices).", allow=A_STAFF | {PLATFORM} | service("gateway"), sees=service("gateway")),
    Policy("claim_viewer", "The claim's member, the fund's committee and admins, platform admins; the fund's "
           "other members and its collectors are told there is no such claim (404).",
           allow=A_STAFF | {MEMBER, PLATFORM}, not_found=frozenset({MEMBER_OTHER}) | A_COLLECTORS),
    Policy("report_reader", "The fund's committee and admins, its network's officers, platform admins (counts "
           "and sums, no member named).", allow=A_STAFF | {NETWORK, PLATFORM}),
    Policy("projection_reader", "The benefit reports' readers, and the ledger and gateway services (benefits.projection, "
           "for the annual report and the dashboard).", allow=A_STAFF | {NETWORK, PLATFORM} | service("ledger", "gateway"),
           sees=service("ledger", "gateway")),
    # --- Grants ---------------------------------------------------------------------------------
    Policy("grant_officer", "Grant officers (for their own grantor's programs) and platform admins (naming the grantor).",
           allow=frozenset({GRANT_OFFICER, GRANT_OFFICER_Y, PLATFORM})),
    Policy("program_viewer", "Every signed-in person; a grant officer or grant system only for its grantor's program "
           "(a narrowed client, its programs; none without a scope): to the others it is hidden (404). Not another "
           "Sajja service.", allow=SIGNED_IN - SERVICES - NOT_THEIR_PROGRAM, not_found=NOT_THEIR_PROGRAM),
    Policy("applicant", "The fund's committee and admins (for their own fund: the body names it), platform "
           "admins.", allow=A_STAFF | {PLATFORM}),
    Policy("application_viewer", "The fund's people, its network's officers, platform admins, and the program's "
           "grantor's officers and grant systems holding a scope; hidden (404) from other funds, other networks, "
           "services, another grantor's officers and systems, a client narrowed to other programs and one with no scope.",
           allow=A_PEOPLE | X_SIDE | {NETWORK, PLATFORM},
           not_found=B_PEOPLE | SERVICES | NOT_THEIR_PROGRAM | {NETWORK_OTHER}, sees=X_SIDE),
    Policy("application_staff", "The application's fund's committee and admins, platform admins; who sees it "
           "but is not its fund's staff is refused, who does not is told it does not exist.",
           allow=A_STAFF | {PLATFORM}, not_found=B_PEOPLE | SERVICES | NOT_THEIR_PROGRAM | {NETWORK_OTHER},
           sees=X_SIDE),
    Policy("grants_reader", "Every signed-in person and grant system; not another Sajja service, which asks "
           "nothing of grants (docs/service-calls.md).", allow=SIGNED_IN - SERVICES),
    Policy("applications_lister", "Every signed-in person, and the program's grantor's officers and grant systems "
           "holding a scope, each seeing the applications they may see: a fund's people their fund's, a network's "
           "officers their network's, the grantor's officers and systems all; the program is hidden (404) from "
           "another grantor's officers and systems, a client narrowed to other programs and one with no scope; not "
           "another Sajja service.",
           allow=SIGNED_IN - SERVICES - NOT_THEIR_PROGRAM, not_found=NOT_THEIR_PROGRAM, sees=X_SIDE),
    Policy("reviewer", "Whom the program names as reviewers (the world's program: the default, its grantor's "
           "officers), and platform admins; never of the application's own fund (403 application.own_fund_review); "
           "those with a reviewer's role the program does not name are refused (403 application.not_a_reviewer: "
           "network officers, other funds' committees and admins), another grantor's officers are told there is "
           "no such application (404).",
           allow=frozenset({GRANT_OFFICER, PLATFORM}), not_found=frozenset({GRANT_OFFICER_Y}),
           sees=INTEGRATIONS | B_STAFF | {NETWORK_OTHER, GRANT_OFFICER}),
    Policy("decider", "The program's grantor's officers, platform admins, and the grantor's grant system holding "
           "grants:decide (not narrowed to other programs); another grantor's officer or system, or a narrowed "
           "one, is told there is no such application (404).",
           allow=frozenset({GRANT_OFFICER, PLATFORM, "integration_decide"}),
           not_found=frozenset({GRANT_OFFICER_Y, CLIENT_Y, CLIENT_NARROWED}), sees=X_SIDE),
    Policy("disburser", "The program's grantor's officers, platform admins, and the grantor's grant system holding "
           "grants:disburse (not narrowed to other programs); another grantor's officer or system, or a narrowed "
           "one, is told there is no such application (404).",
           allow=frozenset({GRANT_OFFICER, PLATFORM, "integration_disburse"}),
           not_found=frozenset({GRANT_OFFICER_Y, CLIENT_Y, CLIENT_NARROWED}), sees=X_SIDE),
    Policy("rollup_reader", "Network officers (their network's applications), grant officers (their grantor's "
           "programs, the country over), platform admins.",
           allow=frozenset({NETWORK, NETWORK_OTHER, GRANT_OFFICER, GRANT_OFFICER_Y, PLATFORM}),
           sees=frozenset({GRANT_OFFICER})),
    Policy("grants_aggregates", "Network officers (their network's applications), grant officers and grant systems "
           "(their grantor's programs; a system with no scope sees nothing), platform admins: the funds named, summed.",
           allow=INTEGRATIONS | {NETWORK, NETWORK_OTHER, GRANT_OFFICER, GRANT_OFFICER_Y, PLATFORM},
           sees=INTEGRATIONS | {GRANT_OFFICER}),
    Policy("matching_reader", "Who may see the fund's matching figures (read with the grants service's own "
           "token): its committee and admins, its network's officers, platform admins, and the program's grantor's "
           "officers for a fund that applied to that grantor's programs (fund A did); its members and collectors are "
           "refused; the program is hidden (404) from another grantor's officers and systems.",
           allow=A_STAFF | {NETWORK, GRANT_OFFICER, PLATFORM}, not_found=NOT_THEIR_PROGRAM, sees=frozenset({GRANT_OFFICER})),
    Policy("fund_summary_reader", "The fund's people, its network's officers, grant officers (the figures of their "
           "grantor's programs), platform admins.",
           allow=A_PEOPLE | {NETWORK, GRANT_OFFICER, GRANT_OFFICER_Y, PLATFORM}, sees=frozenset({GRANT_OFFICER})),
    Policy("webhook_owner", "Grant officers, platform admins and grant systems holding a scope (a grant system "
           "with no scope sees nothing, and is refused).",
           allow=(INTEGRATIONS - {NO_SCOPE}) | {GRANT_OFFICER, GRANT_OFFICER_Y, PLATFORM}, sees=INTEGRATIONS | {GRANT_OFFICER}),
    Policy("own_webhook", "The subscription's owner (the integration client that made it), its grantor's officers "
           "and platform admins; anyone else is told there is no such subscription (404).",
           allow=frozenset({WEBHOOK_CLIENT, GRANT_OFFICER, PLATFORM}),
           not_found=SIGNED_IN - {WEBHOOK_CLIENT, GRANT_OFFICER, PLATFORM}, sees=INTEGRATIONS | {GRANT_OFFICER}),
    # --- Gateway --------------------------------------------------------------------------------
    Policy("user_creator", "Fund admins (in their own fund: the body names it) and platform admins.",
           allow=frozenset({FUND_ADMIN, PLATFORM})),
    Policy("user_lister", "Fund admins (their own fund's users only) and platform admins (everyone).",
           allow=frozenset({FUND_ADMIN, "fund_admin_b", PLATFORM})),
    Policy("user_admin", "The user's fund's admins and platform admins; another fund's admin is told there is "
           "no such user (404).", allow=frozenset({FUND_ADMIN, PLATFORM}), not_found=frozenset({"fund_admin_b"})),
    Policy("own_pin", "A person with an account, for their own PIN, giving the current one: the matrix's members "
           "give theirs; the others have no account here or give a wrong PIN (403), as grant systems and "
           "services are refused.", allow=frozenset({MEMBER, "member_b"})),
    Policy("revocation_reader", "Sajja's services that verify tokens themselves (members, ledger, benefits, "
           "grants: their verifiers read whose tokens are refused) and platform admins.",
           allow=(SERVICES - {"service_gateway"}) | {PLATFORM}),
    Policy("fund_dashboard", "Who reads the fund's books: its committee and admins, its network's officers, "
           "platform admins (each figure is read with the caller's token; the members service hides the fund "
           "from outsiders, the ledger refuses its members and collectors).",
           allow=A_STAFF | {NETWORK, PLATFORM}, not_found=OUTSIDERS),
    Policy("statement_export", "The member themself and the books' readers (the members service hides the member "
           "from the fund's other members and collectors, and the fund from outsiders).",
           allow=A_STAFF | {MEMBER, NETWORK, PLATFORM}, not_found=OUTSIDERS | {MEMBER_OTHER} | A_COLLECTORS),
    Policy("receipt", "The deposit's member, the collector who took it, and the books' readers (the fund is "
           "hidden from outsiders).", allow=A_STAFF | {MEMBER, COLLECTOR, NETWORK, PLATFORM}, not_found=OUTSIDERS),
    Policy("national_rollup", "Platform admins.", allow=frozenset({PLATFORM})),
    Policy("network_rollup", "The network's officers and platform admins.", allow=frozenset({NETWORK, PLATFORM})),
    Policy("rollup", "Network officers (their network's funds) and platform admins.",
           allow=frozenset({NETWORK, NETWORK_OTHER, PLATFORM})),
    Policy("line_link_issuer", "The member's fund's committee and admins (the body names the fund), platform "
           "admins.", allow=A_STAFF | {PLATFORM}),
    Policy("line_unlinker", "The member themself, their fund's committee and admins, platform admins.",
           allow=A_STAFF | {MEMBER, PLATFORM}),
    Policy("line_member", "A member, for their own LINE link (a member with none gets 404 line.not_linked).",
           allow=frozenset({MEMBER}), special={MEMBER_OTHER: "404", "member_b": "404"}),
    Policy("dashboard_home", "Whoever has a page of their own (a fund's people, a network's officers, platform "
           "admins) is sent to it; grant officers, grant systems and services have none (403).",
           allow=A_PEOPLE | B_PEOPLE | {NETWORK, NETWORK_OTHER, PLATFORM}),
    Policy("arrears_reminder", "The fund's committee and admins (the body names the fund; no platform admin).",
           allow=A_STAFF),
)


def web(policy: Policy) -> Policy:
    """The same policy as a web page: no session sends the caller to the login form."""
    return Policy(policy.name + "/web", policy.doc, policy.allow, policy.not_found, policy.default, "login",
                  policy.special, policy.sees)
