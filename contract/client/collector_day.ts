// A collector's evening, written against the TypeScript client generated from Sajja's public
// document (openapi-typescript's types, openapi-fetch's client), as a front end would write it.
// tests/e2e/test_e2e_contract_client.py generates ./sajja.d.ts from the running gateway's
// /openapi.json, type-checks this file (tsc --noEmit), compiles it, runs it with node, and checks
// what it prints. Input from the environment: SAJJA_URL, SAJJA_PHONE, SAJJA_PASSWORD, SAJJA_FUND_ID,
// SAJJA_DEPOSIT_IDS (ids for the offline deposits, comma-separated), SAJJA_TODAY (YYYY-MM-DD, Bangkok).
import createClient from "openapi-fetch";
import type { components, paths } from "./sajja.js";

type Problem = components["schemas"]["Problem"];
type DepositIn = components["schemas"]["DepositIn"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function fail(step: string, problem: Problem | undefined): never {
  throw new Error(`${step}: ${problem?.status} ${problem?.code} ${problem?.detail}`);
}

async function main(): Promise<void> {
  const client = createClient<paths>({ baseUrl: env("SAJJA_URL") });
  const fundId = env("SAJJA_FUND_ID");

  // 1. The collector logs in (operationId auth_login).
  const login = await client.POST("/v1/auth/login", {
    body: { phone: env("SAJJA_PHONE"), password: env("SAJJA_PASSWORD") },
  });
  if (!login.data) fail("login", login.error);
  const headers = { Authorization: `Bearer ${login.data.access_token}` };

  // 2. Reads the round (members_my_round).
  const round = await client.GET("/v1/members/funds/{fund_id}/collectors/me/round", {
    params: { path: { fund_id: fundId } },
    headers,
  });
  if (!round.data) fail("round", round.error);
  const members: string[] = round.data.items.map((m) => m.id);

  // 3. Syncs the evening's offline deposits in one batch (ledger_post_deposit_batch).
  const ids = env("SAJJA_DEPOSIT_IDS").split(",");
  const deposits: DepositIn[] = ids.map((id, i) => ({
    id,
    member_id: members[i % members.length],
    amount_satang: 100 * (1 + (i % 3)),
    collected_at: new Date(Date.now() - (ids.length - i) * 60_000).toISOString(),
  }));
  const synced = await client.POST("/v1/ledger/funds/{fund_id}/deposits/batch", {
    params: { path: { fund_id: fundId } },
    body: { deposits },
    headers,
  });
  if (!synced.data) fail("sync", synced.error);

  // A problem answer is typed too: a batch that is too large is a 422 with errors[].
  const refused = await client.POST("/v1/ledger/funds/{fund_id}/deposits/batch", {
    params: { path: { fund_id: fundId } },
    body: { deposits: [] },
    headers,
  });
  const fields: string[] = refused.error?.errors?.map((e) => e.field) ?? [];

  // 4. Reads the day's total (ledger_collections_report).
  const day = await client.GET("/v1/ledger/funds/{fund_id}/reports/collections", {
    params: { path: { fund_id: fundId }, query: { date: env("SAJJA_TODAY") } },
    headers,
  });
  if (!day.data) fail("collections", day.error);

  console.log(JSON.stringify({
    members: members.length,
    created: synced.data.created,
    duplicates: synced.data.duplicates,
    receipts: synced.data.results.map((r) => r.receipt_no),
    refused_status: refused.response.status,
    refused_code: refused.error?.code,
    refused_fields: fields,
    collected_satang: day.data.map((d) => d.collected_satang).reduce((a, b) => a + b, 0),
  }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
