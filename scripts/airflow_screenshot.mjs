// One-off: backfill ingest_daily_bars through Airflow's REST API, then log in to the UI with
// headless Chromium (playwright-core) and screenshot the grid. Run by airflow_screenshot.sh.
//   node airflow_screenshot.mjs <playwright-core dir> <base url> <user> <password> <out.png> <from> <to>
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pwDir, base, user, password, out, from, to] = process.argv.slice(2);
const { chromium } = createRequire(join(pwDir, "node_modules", "/"))("playwright-core");
const dagId = "ingest_daily_bars";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(token, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const tokenRes = await fetch(base + "/auth/token", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ username: user, password }),
});
const { access_token: token } = await tokenRes.json();

// Wait for the DAG processor to have parsed the DAG, unpause it, backfill the range.
for (let i = 0; ; i++) {
  try { await api(token, "GET", `/api/v2/dags/${dagId}`); break; } catch (e) {
    if (i > 60) throw e;
    await sleep(5000);
  }
}
await api(token, "PATCH", `/api/v2/dags/${dagId}`, { is_paused: false });
const backfillRuns = async () =>
  (await api(token, "GET", `/api/v2/dags/${dagId}/dagRuns?run_type=backfill&limit=100`)).dag_runs;
const previous = await backfillRuns();
if (previous.length && previous.every((r) => r.state === "success")) {
  console.log(`${previous.length} backfill runs already succeeded: screenshot only`);
} else {
  const backfill = await api(token, "POST", "/api/v2/backfills", {
    dag_id: dagId,
    from_date: `${from}T00:00:00Z`,
    to_date: `${to}T00:00:00Z`,
    reprocess_behavior: "completed",
    max_active_runs: 2,
  });
  console.log(`backfill ${backfill.id}: ${from} .. ${to}`);
  for (let i = 0; ; i++) {
    const states = (await backfillRuns()).map((r) => r.state);
    console.log(`runs: ${states.join(" ")}`);
    if (states.length && states.every((s) => s === "success" || s === "failed")) break;
    if (i > 180) throw new Error("backfill did not finish in 30 minutes");
    await sleep(10000);
  }
}

// The backfill is complete once the scheduler has seen its last run finish.
for (let i = 0; i < 30; i++) {
  const { backfills } = await api(token, "GET", `/api/v2/backfills?dag_id=${dagId}`);
  if (backfills.every((b) => b.completed_at)) break;
  await sleep(5000);
}

// A persistent context is how playwright passes --user-data-dir (a new, empty one).
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "chromium-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  // Wide enough for the grid panel (a share of the width) to show every run of the backfill.
  viewport: { width: 2200, height: 1000 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await context.newPage();
  await page.goto(`${base}/dags/${dagId}`);
  await page.waitForSelector("input[name=username]", { timeout: 60000 });
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL((url) => !url.pathname.includes("login"), { timeout: 60000 });
  await page.goto(`${base}/dags/${dagId}`);
  await page.waitForLoadState("networkidle");
  await sleep(3000);
  await sleep(2000);
  await page.screenshot({ path: out });
  console.log(`screenshot: ${out}`);
} finally {
  await context.close();
}
