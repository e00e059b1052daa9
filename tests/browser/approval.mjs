// The approval flow in headless Chromium (Debian's, driven by playwright-core),
// through the local stack's API gateway. Pages without script cannot attach a
// bearer token themselves; in a deployment an identity-aware proxy does it. Here
// the script signs in at the local issuer (POST <issuer>/token with the user's
// password from local/users.json) and Playwright sends `Authorization: Bearer
// <id token>` with every request (extraHTTPHeaders), switching identity as the
// requester and the approver take turns.
//
// The requester fills in the form (first with mistakes), the approver opens the
// email aws-ses-v2-local stored and follows its Approve link, confirms, and the
// requester stops the running send from the status page. Saves a screenshot of
// each step to $ARTIFACTS. Run by tests/approval.rs, which starts the stack
// (with slow pushes, so the send is still running); prints one JSON line
// {"request_id": ...} last.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

// playwright-core is pinned in local/package.json, not beside this script.
const { chromium } = createRequire(new URL("../../local/package.json", import.meta.url))("playwright-core");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("APPROVAL_BASE");
const ISSUER = env("ISSUER_URL");
const CLIENT_ID = env("CLIENT_ID");
const STORE = env("SES_STORE");
const APPROVER = env("APPROVER");
const REQUESTER = env("REQUESTER");
const AUDIENCE_KEY = env("AUDIENCE_KEY");
const ARTIFACTS = env("ARTIFACTS");
const USERS = JSON.parse(readFileSync(env("LOCAL_USERS_FILE"), "utf8")).users;
const log = (...a) => console.error("[browser]", ...a);
const shot = async (page, name) => {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  log("saved", file);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// An ID token for the pages' client, as the proxy would hold after sign-in.
async function signIn(email) {
  const user = USERS.find((u) => u.email === email);
  if (!user) throw new Error(`${email} is not in local/users.json`);
  const body = new URLSearchParams({
    grant_type: "password",
    username: user.username,
    password: user.password,
    client_id: CLIENT_ID,
  });
  const answer = await fetch(`${ISSUER}/token`, { method: "POST", body });
  const tokens = await answer.json();
  if (!answer.ok) throw new Error(`signing in as ${email}: ${answer.status} ${JSON.stringify(tokens)}`);
  return tokens.id_token;
}

async function approverMail(requestId) {
  for (let i = 0; i < 300; i++) {
    const store = await (await fetch(STORE)).json();
    const mail = store.emails.find(
      (e) => (e.destination?.to ?? []).includes(APPROVER) && (e.body?.html ?? "").includes(requestId),
    );
    if (mail) return mail;
    await sleep(100);
  }
  throw new Error(`no email to ${APPROVER} for ${requestId}`);
}

// Reloads the page until `ready()` holds (the status page also refreshes
// itself while a job runs; this only makes the wait shorter).
async function until(page, what, ready, tries = 180) {
  for (let i = 0; i < tries; i++) {
    if (await ready()) return;
    await sleep(1000);
    await page.reload();
  }
  throw new Error(`${what}: not after ${tries} reloads`);
}

const tokens = { requester: await signIn(REQUESTER), approver: await signIn(APPROVER) };
const context = await chromium.launchPersistentContext(env("PROFILE_DIR"), {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 820, height: 900 },
});
const actAs = (who) => context.setExtraHTTPHeaders({ Authorization: `Bearer ${tokens[who]}` });
context.setDefaultTimeout(60_000);
try {
  const page = await context.newPage();

  // 1. The requester's form, submitted once with mistakes: each error is beside
  //    its field. The audience brings its own devices, which must be declared.
  await actAs("requester");
  await page.goto(`${BASE}/requests/new`);
  if ((await page.locator("#signed-in").textContent()) !== REQUESTER) throw new Error("not signed in as the requester");
  await page.getByLabel("Title").fill("Summer sale <b>today</b>");
  await page.getByLabel("Body", { exact: true }).fill("Hello {{name}}, everything is 20% off until midnight.");
  await page.getByLabel("Data (JSON object, optional)").fill('{"deeplink": "app://sale"');
  await page.getByLabel("Category (optional)").fill("promo");
  await page.getByLabel("S3 key").fill(AUDIENCE_KEY);
  await shot(page, "approval-form.png");
  await page.getByRole("button", { name: "Send for approval" }).click();
  await page.waitForSelector("#data-error");
  if ((await page.getAttribute("#data", "aria-invalid")) !== "true") throw new Error("data is not marked invalid");
  await page.getByLabel("Data (JSON object, optional)").fill('{"deeplink": "app://sale"}');
  await page.getByRole("button", { name: "Send for approval" }).click();
  await page.waitForSelector("#own_devices-error");
  await shot(page, "approval-form-errors.png");
  await page.getByLabel("This audience carries its own devices").check();
  await page.getByRole("button", { name: "Send for approval" }).click();
  await page.waitForURL(/\/requests\/[0-9a-f]{32}\?notice=submitted/);
  const requestId = page.url().match(/\/requests\/([0-9a-f]{32})/)[1];
  log("submitted", requestId);

  // 2. The approver's email, rendered as a mail client would.
  const mail = await approverMail(requestId);
  await page.setContent(mail.body.html);
  await shot(page, "approval-email.png");

  // 3. Its Approve link opens a confirmation page; the button approves.
  await actAs("approver");
  await page.getByRole("link", { name: "Approve", exact: true }).click();
  await page.waitForSelector("text=Approve this push?");
  await shot(page, "approval-confirm.png");
  await page.getByRole("button", { name: "Approve and send" }).click();
  await page.waitForURL(/notice=approved/);

  // 4. The requester follows the send, and stops it while it runs.
  await actAs("requester");
  const stop = page.getByRole("button", { name: "Stop sending" });
  await until(page, "the Stop button", async () => (await stop.count()) === 1);
  await shot(page, "approval-status.png");
  await stop.click();
  await page.waitForURL(/notice=stopping/);
  const status = () => page.locator("#job-status").textContent().catch(() => null);
  await until(page, "the job to stop", async () => (await status()) === "stopped");
  await shot(page, "approval-stopped.png");
  console.log(JSON.stringify({ request_id: requestId }));
} finally {
  await context.close();
}
