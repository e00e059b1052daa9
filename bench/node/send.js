'use strict';
// The original Node.js send path, as pushbatch's baseline: @parse/node-apn
// (MultiProvider) for APNs and Node's own http2 for FCM HTTP v1 (firebase-admin
// cannot be pointed at a custom host over HTTP/2). Reads the same JSONL batch
// file, renders per user, keeps at most --in-flight requests outstanding, and
// prints one JSON object with the figures on stdout.
//
//   node send.js --file 1m.jsonl --state-dir DIR --in-flight 1000 \
//     [--apns-connections 4] [--fcm-connections 2] [--limit USERS] [--max-seconds 600]

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const http2 = require('node:http2');
const readline = require('node:readline');
const apn = require('@parse/node-apn');

function parseArgs(argv) {
  const args = { limit: 0, inFlight: 1000, apnsConnections: 4, fcmConnections: 2, maxSeconds: 600, topic: 'com.example.app' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`flag ${k} needs a value`);
    const name = k.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    args[name] = ['limit', 'inFlight', 'apnsConnections', 'fcmConnections', 'maxSeconds'].includes(name) ? Number(v) : v;
  }
  for (const required of ['file', 'stateDir']) {
    if (!args[required]) throw new Error(`--${required.replace(/[A-Z]/g, c => '-' + c.toLowerCase())} is required`);
  }
  return args;
}

const b64url = buf => Buffer.from(buf).toString('base64url');

// Google's JWT-bearer grant, signed with the service account's RSA key.
async function fcmAccessToken(account) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: account.private_key_id }));
  const claims = b64url(JSON.stringify({
    iss: account.client_email,
    scope: 'https://www.googleapis.com/auth/firebase.messaging',
    aud: account.token_uri,
    iat: now,
    exp: now + 3600,
  }));
  const signature = crypto.sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), account.private_key);
  const form = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    assertion: `${header}.${claims}.${b64url(signature)}`,
  });
  const res = await fetch(account.token_uri, { method: 'POST', body: form });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`);
  return (await res.json()).access_token;
}

class Fcm {
  constructor(origin, ca, connections, project, accessToken) {
    this.path = `/v1/projects/${project}/messages:send`;
    this.auth = `Bearer ${accessToken}`;
    this.sessions = [];
    for (let i = 0; i < connections; i++) this.sessions.push(http2.connect(origin, { ca }));
    for (const s of this.sessions) s.on('error', e => console.error(JSON.stringify({ level: 'error', msg: 'fcm session', error: String(e) })));
    this.next = 0;
  }

  send(body) {
    const session = this.sessions[this.next++ % this.sessions.length];
    return new Promise(resolve => {
      const req = session.request({
        ':method': 'POST',
        ':path': this.path,
        authorization: this.auth,
        'content-type': 'application/json',
      });
      let status = 0;
      const chunks = [];
      req.on('response', h => { status = h[':status']; });
      req.on('data', c => chunks.push(c));
      req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      req.on('error', e => resolve({ status: 0, body: String(e) }));
      req.end(body);
    });
  }

  close() {
    for (const s of this.sessions) s.close();
  }
}

function fill(template, vars) {
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name) => (vars && vars[name] != null ? String(vars[name]) : ''));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const guard = setTimeout(() => {
    console.error(JSON.stringify({ level: 'error', msg: `did not finish within ${args.maxSeconds}s` }));
    process.exit(2);
  }, args.maxSeconds * 1000);
  guard.unref();

  const ready = JSON.parse(fs.readFileSync(path.join(args.stateDir, 'ready.json'), 'utf8'));
  const ca = fs.readFileSync(path.join(args.stateDir, 'ca.pem'));
  const account = JSON.parse(fs.readFileSync(path.join(args.stateDir, 'fcm-service-account.json'), 'utf8'));
  const [apnsHost, apnsPort] = ready.tls.split(':');

  const apns = new apn.MultiProvider({
    token: { key: path.join(args.stateDir, 'apns-key.p8'), keyId: 'PUSHBATCH1', teamId: 'PUSHBATCHT' },
    address: apnsHost,
    port: Number(apnsPort),
    ca,
    production: true,
    clientCount: args.apnsConnections,
    requestTimeout: 30000,
  });
  const fcm = new Fcm(`https://${ready.tls}`, ca, args.fcmConnections, account.project_id, await fcmAccessToken(account));

  const rl = readline.createInterface({ input: fs.createReadStream(args.file, { highWaterMark: 256 * 1024 }), crlfDelay: Infinity });
  const counts = { users: 0, invalid_entries: 0, devices: 0, ios: 0, android: 0, delivered: 0, dead: 0, failed: 0, retries: 0 };
  const failureSamples = [];
  const fail = reason => {
    counts.failed++;
    if (failureSamples.length < 5) failureSamples.push(reason);
  };
  let header = null;
  let inFlight = 0;
  let wake = null;
  const done = () => {
    inFlight--;
    counts.devices++;
    if (wake) { const w = wake; wake = null; w(); }
  };

  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for await (const line of rl) {
    if (!line.trim()) continue;
    if (header === null) { header = JSON.parse(line); continue; }
    if (args.limit > 0 && counts.users + counts.invalid_entries >= args.limit) break;
    let user;
    try { user = JSON.parse(line); } catch { counts.invalid_entries++; continue; }
    if (!user || typeof user.user_id !== 'string' || !Array.isArray(user.devices)) { counts.invalid_entries++; continue; }
    counts.users++;
    const n = header.notification;
    const title = fill(n.title, user.vars);
    const body = fill(n.body, user.vars);
    for (const device of user.devices) {
      while (inFlight >= args.inFlight) await new Promise(r => { wake = r; });
      inFlight++;
      if (device.platform === 'ios') {
        counts.ios++;
        const note = new apn.Notification();
        note.alert = { title, body };
        note.sound = n.sound;
        note.badge = n.badge;
        note.threadId = n.apns.aps['thread-id'];
        note.mutableContent = n.apns.aps['mutable-content'];
        note.payload = n.data;
        note.topic = n.apns.topic || args.topic;
        note.pushType = 'alert';
        note.priority = 10;
        note.collapseId = n.collapse_key;
        note.expiry = Math.floor(Date.now() / 1000) + n.ttl_seconds;
        apns.send(note, device.token).then(r => {
          if (r.sent.length === 1) counts.delivered++;
          else if (r.failed[0] && r.failed[0].status === 410) counts.dead++;
          else fail(JSON.stringify(r.failed[0] && (r.failed[0].response || String(r.failed[0].error))));
          done();
        }, e => { fail(String(e)); done(); });
      } else {
        counts.android++;
        const message = {
          message: {
            token: device.token,
            notification: { title, body },
            data: n.data,
            android: { priority: 'HIGH', ttl: `${n.ttl_seconds}s`, collapse_key: n.collapse_key, notification: { sound: n.sound } },
          },
        };
        fcm.send(JSON.stringify(message)).then(r => {
          if (r.status === 200) counts.delivered++;
          else if (r.status === 404) counts.dead++;
          else fail(`${r.status} ${r.body.slice(0, 200)}`);
          done();
        });
      }
    }
  }
  while (inFlight > 0) await new Promise(r => { wake = r; });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  console.log(JSON.stringify({
    in_flight: args.inFlight,
    apns_connections: args.apnsConnections,
    fcm_connections: args.fcmConnections,
    runtime: `node ${process.version}`,
    counts,
    elapsed_seconds: elapsed,
    notifications_per_second: counts.devices / elapsed,
    cpu_seconds: cpuSeconds,
    cpu_microseconds_per_notification: (cpuSeconds * 1e6) / Math.max(1, counts.devices),
    failure_samples: failureSamples,
  }));
  fcm.close();
  await apns.shutdown();
  process.exit(0);
}

main().catch(e => {
  console.error(JSON.stringify({ level: 'error', msg: String(e && e.stack || e) }));
  process.exit(1);
});
