"""Each route and its policy (``tests/authz/policies.py``): the table a human edits.

One line per route: the process, the method, the path as the app declares it, the policy. A route
the apps serve and this table does not name fails ``test_every_route_has_a_row``; a web page under
``/dashboard`` takes its policy's web form (no session: the login form). After an edit, run
``.venv/bin/python -m tests.authz.generate`` to write ``tests/authz/matrix.csv`` and
``docs/authorization.md`` again.
"""

from __future__ import annotations

from tests.authz.routes import Route

TABLE = """
members   GET    /healthz                                                             public
members   GET    /readyz                                                              public
members   POST   /v1/members/networks                                                 platform_admin
members   POST   /v1/members/funds                                                    fund_creator
members   GET    /v1/members/funds                                                    signed_in
members   GET    /v1/members/funds/{fund_id}                                          fund_viewer
members   PATCH  /v1/members/funds/{fund_id}                                          fund_writer
members   GET    /v1/members/funds/{fund_id}/summary                                  fund_viewer
members   POST   /v1/members/funds/{fund_id}/members                                  roll_writer
members   GET    /v1/members/funds/{fund_id}/members                                  roll_reader
members   POST   /v1/members/funds/{fund_id}/members/import                           roll_writer
members   GET    /v1/members/funds/{fund_id}/members/{member_id}                      member_viewer
members   PATCH  /v1/members/funds/{fund_id}/members/{member_id}                      roll_writer
members   PUT    /v1/members/funds/{fund_id}/members/{member_id}/beneficiaries        roll_writer
members   POST   /v1/members/funds/{fund_id}/members/{member_id}/status               roll_writer
members   GET    /v1/members/funds/{fund_id}/members/{member_id}/status-history       member_viewer
members   GET    /v1/members/funds/{fund_id}/members/{member_id}/national-id          national_id_reader
members   POST   /v1/members/funds/{fund_id}/members/{member_id}/anonymise            member_eraser
members   GET    /v1/members/funds/{fund_id}/members/{member_id}/erasure              member_eraser
members   POST   /v1/members/funds/{fund_id}/collectors                               roll_writer
members   GET    /v1/members/funds/{fund_id}/collectors                               collector_reader
members   PUT    /v1/members/funds/{fund_id}/collectors/{collector_id}/round          roll_writer
members   GET    /v1/members/funds/{fund_id}/collectors/me/round                      own_round
members   GET    /v1/members/funds/{fund_id}/collectors/{collector_id}/round          round_reader
members   GET    /v1/members/internal/funds/{fund_id}/members/{member_id}/facts       member_facts
members   POST   /v1/members/internal/funds/{fund_id}/members/facts                   member_facts
members   GET    /v1/members/internal/funds/{fund_id}/collectors/by-user/{user_id}    collector_facts
members   GET    /v1/members/internal/funds/{fund_id}                                 fund_facts
members   GET    /v1/members/internal/networks/{network_id}/funds                     fund_facts
members   GET    /v1/members/funds-overview                                           signed_in
members   GET    /v1/members/internal/funds/{fund_id}/members                         current_members
members   GET    /v1/members/internal/funds/{fund_id}/roll                            projection_roll
members   GET    /v1/members/internal/roll-changes                                    roll_changes
members   GET    /v1/members/internal/audit                                            audit_feed
members   GET    /v1/members/pii-keys                                                 platform_admin
members   GET    /v1/members/internal/funds/{fund_id}/members/{member_id}/export      member_export

ledger    GET    /healthz                                                             public
ledger    GET    /readyz                                                              public
ledger    POST   /v1/ledger/funds/{fund_id}/deposits                                  deposit_poster
ledger    POST   /v1/ledger/aggregates                                                network_rollup
ledger    POST   /v1/ledger/aggregates/refresh                                        platform_admin
ledger    POST   /v1/ledger/funds/{fund_id}/deposits/batch                            deposit_poster
ledger    GET    /v1/ledger/funds/{fund_id}/deposits/feed                             deposit_feed_reader
ledger    GET    /v1/ledger/funds/{fund_id}/deposits/{deposit_id}                     deposit_reader
ledger    POST   /v1/ledger/funds/{fund_id}/co-funding                                co_funding_recorder
ledger    POST   /v1/ledger/funds/{fund_id}/handovers                                 bookkeeper
ledger    POST   /v1/ledger/funds/{fund_id}/payouts                                   payout_service
ledger    POST   /v1/ledger/funds/{fund_id}/expenses/administration                   signatory
ledger    POST   /v1/ledger/funds/{fund_id}/entries/{entry_id}/reverse                signatory
ledger    POST   /v1/ledger/funds/{fund_id}/deposits/{deposit_id}/reverse             signatory
ledger    GET    /v1/ledger/funds/{fund_id}/proposals                                 books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/proposals/{proposal_id}                   books_reader
ledger    POST   /v1/ledger/funds/{fund_id}/proposals/{proposal_id}/confirm           second_signatory
ledger    POST   /v1/ledger/funds/{fund_id}/proposals/{proposal_id}/withdraw          signatory
ledger    GET    /v1/ledger/funds/{fund_id}/accounts                                  books_reader
ledger    POST   /v1/ledger/funds/{fund_id}/accounts                                  fund_admin
ledger    GET    /v1/ledger/funds/{fund_id}/trial-balance                             books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/members/{member_id}/balance               member_books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/members/{member_id}/statement             member_books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/reports/sources                           books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/reports/holdings                          books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/reports/deposits-by-month                 books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/reports/member-contributions              contributions_reader
ledger    GET    /v1/ledger/funds/{fund_id}/reports/projection-inputs                 projection_inputs_reader
ledger    GET    /v1/ledger/funds/{fund_id}/reports/collections                       collections_reader
ledger    GET    /v1/ledger/funds/{fund_id}/rules                                     books_reader
ledger    PATCH  /v1/ledger/funds/{fund_id}/rules                                     fund_admin
ledger    POST   /v1/ledger/funds/{fund_id}/plans                                     bookkeeper
ledger    GET    /v1/ledger/funds/{fund_id}/plans                                     fund_actor
ledger    GET    /v1/ledger/funds/{fund_id}/members/{member_id}/standing              standing_reader
ledger    GET    /v1/ledger/funds/{fund_id}/arrears                                   books_reader
ledger    PUT    /v1/ledger/funds/{fund_id}/matching-rules                            bookkeeper
ledger    GET    /v1/ledger/funds/{fund_id}/reports/matching                          books_reader
ledger    GET    /v1/ledger/funds/{fund_id}/years                                     books_reader
ledger    POST   /v1/ledger/funds/{fund_id}/years/{year}/close                        year_closer
ledger    POST   /v1/ledger/funds/{fund_id}/years/{year}/reopen                       platform_admin
ledger    GET    /v1/ledger/funds/{fund_id}/statements/{year}                         books_reader
ledger    GET    /v1/ledger/internal/audit                                             audit_feed
ledger    POST   /v1/ledger/internal/funds/{fund_id}/members/{member_id}/erase        member_erase
ledger    GET    /v1/ledger/internal/funds/{fund_id}/members/{member_id}/export       member_export

benefits  GET    /healthz                                                             public
benefits  GET    /readyz                                                              public
benefits  POST   /v1/benefits/aggregates                                              network_rollup
benefits  GET    /v1/benefits/funds/{fund_id}/catalog                                 fund_actor
benefits  POST   /v1/benefits/funds/{fund_id}/catalog                                 fund_admin
benefits  POST   /v1/benefits/funds/{fund_id}/catalog/from-templates                  fund_admin
benefits  POST   /v1/benefits/funds/{fund_id}/catalog/{code}/rules                    fund_admin
benefits  GET    /v1/benefits/funds/{fund_id}/catalog/{code}/rules                    fund_actor
benefits  GET    /v1/benefits/funds/{fund_id}/settings                                fund_committee
benefits  PATCH  /v1/benefits/funds/{fund_id}/settings                                fund_admin
benefits  POST   /v1/benefits/funds/{fund_id}/claims/check                            claimant
benefits  POST   /v1/benefits/funds/{fund_id}/claims                                  claimant
benefits  GET    /v1/benefits/funds/{fund_id}/claims                                  claims_lister
benefits  GET    /v1/benefits/funds/{fund_id}/claims/feed                             claim_feed_reader
benefits  GET    /v1/benefits/funds/{fund_id}/claims/{claim_id}                       claim_viewer
benefits  POST   /v1/benefits/funds/{fund_id}/claims/{claim_id}/review                fund_committee
benefits  POST   /v1/benefits/funds/{fund_id}/claims/{claim_id}/approve               fund_committee
benefits  POST   /v1/benefits/funds/{fund_id}/claims/{claim_id}/reject                fund_committee
benefits  POST   /v1/benefits/funds/{fund_id}/claims/{claim_id}/cancel                claim_viewer
benefits  POST   /v1/benefits/funds/{fund_id}/claims/{claim_id}/release               fund_committee
benefits  POST   /v1/benefits/funds/{fund_id}/claims/{claim_id}/documents             claim_viewer
benefits  GET    /v1/benefits/funds/{fund_id}/claims/{claim_id}/documents/{document_id}  claim_viewer
benefits  GET    /v1/benefits/funds/{fund_id}/reports/paid                            report_reader
benefits  GET    /v1/benefits/funds/{fund_id}/projection                              projection_reader
benefits  GET    /v1/benefits/funds/{fund_id}/reports/pending                         report_reader
benefits  GET    /v1/benefits/internal/audit                                           audit_feed
benefits  POST   /v1/benefits/internal/funds/{fund_id}/members/{member_id}/erase      member_erase
benefits  GET    /v1/benefits/internal/funds/{fund_id}/members/{member_id}/export     member_export

grants    GET    /healthz                                                             public
grants    GET    /readyz                                                              public
grants    POST   /v1/grants/grantors                                                  platform_admin
grants    GET    /v1/grants/grantors                                                  grants_reader
grants    POST   /v1/grants/programs                                                  grant_officer
grants    GET    /v1/grants/programs                                                  grants_reader
grants    GET    /v1/grants/programs/{program_id}                                     program_viewer
grants    POST   /v1/grants/programs/{program_id}/applications                        applicant
grants    GET    /v1/grants/programs/{program_id}/applications                        applications_lister
grants    GET    /v1/grants/applications/{application_id}                             application_viewer
grants    POST   /v1/grants/applications/{application_id}/submit                      application_staff
grants    POST   /v1/grants/applications/{application_id}/reviews                     reviewer
grants    POST   /v1/grants/applications/{application_id}/decision                    decider
grants    POST   /v1/grants/applications/{application_id}/tranches/{tranche_id}/disbursement  disburser
grants    POST   /v1/grants/applications/{application_id}/reports                     application_staff
grants    GET    /v1/grants/applications/{application_id}/reconciliation              application_viewer
grants    GET    /v1/grants/programs/{program_id}/matching                            matching_reader
grants    GET    /v1/grants/reports/rollup                                            rollup_reader
grants    POST   /v1/grants/aggregates                                                grants_aggregates
grants    GET    /v1/grants/funds/{fund_id}/summary                                   fund_summary_reader
grants    POST   /v1/grants/webhooks                                                  webhook_owner
grants    GET    /v1/grants/webhooks/{subscription_id}/deliveries                     own_webhook
grants    POST   /v1/grants/webhooks/deliveries/{delivery_id}/redeliver               own_webhook
grants    GET    /v1/grants/internal/audit                                             audit_feed

gateway   GET    /.well-known/jwks.json                                               public
gateway   GET    /.well-known/revocations                                             revocation_reader
gateway   GET    /healthz                                                             public
gateway   GET    /readyz                                                              public
gateway   GET    /openapi.json                                                        public
gateway   GET    /docs                                                                public
gateway   POST   /v1/auth/login                                                       public
gateway   POST   /v1/auth/refresh                                                     public
gateway   POST   /v1/auth/logout                                                      public
gateway   POST   /v1/auth/token                                                       public
gateway   GET    /v1/auth/me                                                          signed_in
gateway   POST   /v1/auth/users                                                       user_creator
gateway   POST   /v1/auth/clients                                                     platform_admin
gateway   GET    /v1/auth/users                                                       user_lister
gateway   GET    /v1/auth/users/{user_id}                                          user_admin
gateway   PATCH  /v1/auth/users/{user_id}                                          user_admin
gateway   POST   /v1/auth/users/{user_id}/deactivate                               user_admin
gateway   POST   /v1/auth/users/{user_id}/reactivate                               user_admin
gateway   POST   /v1/auth/users/{user_id}/pin-reset                                user_admin
gateway   POST   /v1/auth/me/pin                                                      own_pin
gateway   POST   /v1/auth/pin                                                         public
gateway   GET    /v1/auth/clients                                                     platform_admin
gateway   POST   /v1/auth/clients/{client_id}/revoke                              platform_admin
gateway   POST   /v1/auth/clients/{client_id}/rotate                              platform_admin
gateway   POST   /v1/auth/keys/rotate                                                 platform_admin
gateway   POST   /v1/auth/keys/{kid}/revoke                                           platform_admin
gateway   POST   /v1/auth/line                                                        public
gateway   POST   /v1/auth/line/link                                                   public
gateway   POST   /v1/auth/line/link-codes                                             line_link_issuer
gateway   POST   /v1/auth/line/unlink                                                 line_unlinker
gateway   PUT    /v1/auth/line/preferences                                            line_member
gateway   POST   /v1/line/webhook                                                     public
gateway   POST   /v1/line/reminders/arrears                                           arrears_reminder
gateway   GET    /v1/dashboard/funds/{fund_id}                                        fund_dashboard
gateway   GET    /v1/dashboard/national                                               national_rollup
gateway   GET    /v1/dashboard/networks/{network_id}                                  network_rollup
gateway   GET    /v1/dashboard/provinces/{province_name}                              rollup
gateway   GET    /v1/dashboard/funds-table                                            network_rollup
gateway   GET    /v1/dashboard/exports/funds.{fmt}                                    rollup
gateway   GET    /v1/dashboard/funds/{fund_id}/exports/members.{fmt}                  fund_dashboard
gateway   GET    /v1/dashboard/funds/{fund_id}/members/{member_id}/exports/statement.{fmt}  statement_export
gateway   GET    /v1/dashboard/funds/{fund_id}/exports/income.{fmt}                   fund_dashboard
gateway   GET    /v1/dashboard/funds/{fund_id}/deposits/{deposit_id}/receipt.pdf      receipt
gateway   GET    /v1/dashboard/funds/{fund_id}/reports/monthly.pdf                    fund_dashboard
gateway   GET    /v1/audit                                                             audit_reader
gateway   POST   /v1/internal/funds/{fund_id}/members/{member_id}/erase               member_erase
gateway   GET    /v1/me/data                                                          own_data
gateway   GET    /v1/dashboard/funds/{fund_id}/members/{member_id}/data.json          member_data_reader
gateway   GET    /dashboard/login                                                     public
gateway   POST   /dashboard/login                                                     public
gateway   POST   /dashboard/logout                                                    public
gateway   GET    /dashboard                                                           dashboard_home
gateway   GET    /dashboard/funds/{fund_id}                                           fund_dashboard
gateway   GET    /dashboard/national                                                  national_rollup
gateway   GET    /dashboard/networks/{network_id}                                     network_rollup
gateway   GET    /dashboard/provinces/{province_name}                                 rollup
gateway   GET    /dashboard/exports/funds.{fmt}                                       rollup
gateway   GET    /dashboard/funds/{fund_id}/exports/members.{fmt}                     fund_dashboard
gateway   GET    /dashboard/funds/{fund_id}/members/{member_id}/exports/statement.{fmt}  statement_export
gateway   GET    /dashboard/funds/{fund_id}/exports/income.{fmt}                      fund_dashboard
gateway   GET    /dashboard/funds/{fund_id}/deposits/{deposit_id}/receipt.pdf         receipt
gateway   GET    /dashboard/funds/{fund_id}/reports/monthly.pdf                       fund_dashboard
"""


def parse(table: str = TABLE) -> dict[Route, str]:
    rows: dict[Route, str] = {}
    for number, line in enumerate(table.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"tests/authz/table.py line {number}: want 'app METHOD path policy', got {line!r}")
        route = Route(parts[0], parts[1], parts[2])
        if route in rows:
            raise ValueError(f"tests/authz/table.py line {number}: {route.id} twice")
        rows[route] = parts[3]
    return rows


ROUTE_POLICIES = parse()
