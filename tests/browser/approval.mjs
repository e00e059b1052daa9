// The approval flow in headless Chromium (Debian's, driven by playwright-core):
// fill in the form (first with a mistake), open the approver's email as
// aws-ses-v2-local stored it, follow its Approve link, confirm, and watch the
// status page until the send job is done. Saves a screenshot of each step to
// $ARTIFACTS. Run by tests/approval.rs, which starts the local stack; prints
// one JSON line {"request_id": ...} last.
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
const STORE = env("SES_STORE");
const APPROVER = env("APPROVER");
const REQUESTER = env("REQUESTER");
const AUDIENCE_KEY = env("AUDIENCE_KEY");
const ARTIFACTS = env("ARTIFACTS");
const log = (...a) => console.error("[browser]", ...a);
const shot = async (page, name) => {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  log("saved", file);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
context.setDefaultTimeout(60_000);
try {
  const page = await context.newPage();

  // 1. The form, submitted once with a mistake: the error is beside its field.
  await page.goto(`${BASE}/requests/new`);
  await page.getByLabel("Your email").fill(REQUESTER);
  await page.getByLabel("Title").fill("Summer sale <b>today</b>");
  await page.getByLabel("Body", { exact: true }).fill("Hello {{name}}, everything is 20% off until midnight.");
  await page.getByLabel("Data (JSON object, optional)").fill('{"deeplink": "app://sale"');
  await page.getByLabel("Category (optional)").fill("promo");
  await page.getByLabel("S3 key").fill(AUDIENCE_KEY);
  await shot(page, "approval-form.png");
  await page.getByRole("button", { name: "Send for approval" }).click();
  await page.waitForSelector("#data-error");
  if ((await page.getAttribute("#data", "aria-invalid")) !== "true") throw new Error("data is not marked invalid");
  await shot(page, "approval-form-errors.png");
  await page.getByLabel("Data (JSON object, optional)").fill('{"deeplink": "app://sale"}');
  await page.getByRole("button", { name: "Send for approval" }).click();
  await page.waitForURL(/\/requests\/[0-9a-f]{32}\?notice=submitted/);
  const requestId = page.url().match(/\/requests\/([0-9a-f]{32})/)[1];
  log("submitted", requestId);

  // 2. The approver's email, rendered as a mail client would.
  const mail = await approverMail(requestId);
  await page.setContent(mail.body.html);
  await shot(page, "approval-email.png");

  // 3. Its Approve link opens a confirmation page; the button approves.
  await page.getByRole("link", { name: "Approve", exact: true }).click();
  await page.waitForSelector("text=Approve this push?");
  await shot(page, "approval-confirm.png");
  await page.getByRole("button", { name: "Approve and send" }).click();
  await page.waitForURL(/notice=approved/);

  // 4. The status page, until the send job is done (it refreshes itself).
  for (let i = 0; ; i++) {
    const status = await page.locator("#job-status").textContent().catch(() => null);
    if (status === "done") break;
    if (i > 120) throw new Error(`the job did not finish (status ${status})`);
    await sleep(1000);
    await page.reload();
  }
  await shot(page, "approval-status.png");
  console.log(JSON.stringify({ request_id: requestId }));
} finally {
  await context.close();
}
