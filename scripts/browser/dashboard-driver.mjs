// Drives the firebreak dashboard in headless Chromium for crates/dashboard/tests/browser.rs.
//
//   node scripts/browser/dashboard-driver.mjs URL SCREENSHOT.png
//
// Needs FIREBREAK_CHROMIUM (the browser binary, Debian's /usr/bin/chromium) and
// FIREBREAK_PLAYWRIGHT_DIR (where playwright-core is installed); both are written to
// .tools/env.d/chromium.sh by scripts/setup.d/70-chromium.sh.
//
// Protocol (JSON Lines). Once the page has rendered its first status, the driver saves a
// screenshot and prints {"event":"ready", ...state}. It then reads commands on stdin:
//   {"cmd":"wait","expect":{"secrets.rotated":2,...},"timeout_ms":20000,"screenshot":"path"}
//     polls the page (without reloading it) until every expected field shows the expected
//     number, then prints {"event":"waited","matched":true|false,"elapsed_ms":N, ...state}
//     (and saves a screenshot when asked);
//   {"cmd":"quit"} (or end of input) closes the browser.
// state = {values: {field: number|null}, tasks: [{secret,scope,state}], tasks_count, incident:
// {name,window,providers}, conn, renders, error, console_errors: [..], foreign_requests: [..],
// boxes: {summary, do_next: {top, bottom, left, right} in page pixels}, do_next: [{kind, title}],
// hunt_rows, broken_cells: [text of a no-wrap cell laid out on more than one line]}.
// Any failure prints {"event":"error","message":...} and exits 1.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const [url, screenshot] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (message) => { out({ event: 'error', message }); process.exit(1); };

if (!url || !screenshot) { fail('usage: dashboard-driver.mjs URL SCREENSHOT.png'); }
const exe = process.env.FIREBREAK_CHROMIUM;
const pwDir = process.env.FIREBREAK_PLAYWRIGHT_DIR;
if (!exe || !pwDir) { fail('FIREBREAK_CHROMIUM / FIREBREAK_PLAYWRIGHT_DIR unset: run scripts/setup.d/70-chromium.sh and source .tools/env.d/chromium.sh'); }

let chromium;
try {
  ({ chromium } = createRequire(path.join(pwDir, 'package.json'))('playwright-core'));
} catch (e) {
  fail(`cannot load playwright-core from ${pwDir}: ${e.message} (run scripts/setup.d/70-chromium.sh)`);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'firebreak-dashboard-profile-'));
const origin = new URL(url).origin;
const consoleErrors = [];
const foreignRequests = [];
let context;

async function cleanup() {
  try { if (context) { await context.close(); } } catch (_) { /* already gone */ }
  fs.rmSync(profile, { recursive: true, force: true });
}

async function read(page) {
  const s = await page.evaluate(() => {
    const txt = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
    const values = {};
    document.querySelectorAll('[data-field]').forEach((el) => {
      const t = el.textContent.replace(/,/g, '').trim();
      values[el.dataset.field] = /^\d+$/.test(t) ? Number(t) : null;
    });
    const tasks = Array.from(document.querySelectorAll('tr[data-testid="task-row"]')).map((tr) => ({
      secret: tr.querySelector('td.secret').textContent,
      scope: tr.querySelector('td.scope').textContent,
      state: tr.querySelector('td.state').textContent,
    }));
    const box = (id) => {
      const e = document.getElementById(id);
      if (!e) { return null; }
      const r = e.getBoundingClientRect();
      return { top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, left: r.left, right: r.right, height: r.height };
    };
    // a cell that must not wrap (level, state, time) laid out on more than one line
    const broken = [];
    document.querySelectorAll('td.nw, td.state .badge').forEach((c) => {
      // the line boxes of its text: more than one top (4 px apart) = it wrapped
      const tops = [];
      const walk = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const rg = document.createRange();
        rg.selectNodeContents(n);
        for (const r of rg.getClientRects()) {
          if (r.width > 0 && !tops.some((t) => Math.abs(t - r.top) < 4)) { tops.push(r.top); }
        }
      }
      if (tops.length > 1) { broken.push(c.textContent); }
    });
    return {
      boxes: { summary: box('summary'), do_next: box('do-next') },
      do_next: Array.from(document.querySelectorAll('#do-next-list > li')).map((li) => ({
        kind: li.dataset.kind || '', title: (li.querySelector('b') || li).textContent })),
      hunt_rows: document.querySelectorAll('tr[data-testid="hunt-row"]').length,
      broken_cells: broken,
      values,
      tasks,
      tasks_count: Number((txt('tasks-count') || '').replace(/,/g, '')),
      incident: { name: txt('incident-name'), window: txt('incident-window'), providers: txt('incident-providers') },
      conn: document.getElementById('conn').dataset.state,
      renders: Number(document.body.dataset.renders),
      error: txt('error'),
      title: document.title,
    };
  });
  return { ...s, console_errors: consoleErrors.slice(), foreign_requests: foreignRequests.slice() };
}

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: exe,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') { consoleErrors.push(m.text()); } });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) { foreignRequests.push(u); }
  });
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  if (!resp || !resp.ok()) { throw new Error(`GET ${url}: HTTP ${resp ? resp.status() : 'no response'}`); }
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 30000 });
  await page.screenshot({ path: screenshot, fullPage: true });
  // what an engineer sees without scrolling
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-fold.png' });
  out({ event: 'ready', screenshot, ...(await read(page)) });

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) { continue; }
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'quit') { break; }
    if (cmd.cmd !== 'wait') { throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`); }
    const t0 = Date.now();
    const limit = cmd.timeout_ms || 20000;
    let s = await read(page);
    const matches = (st) => Object.entries(cmd.expect || {}).every(([k, v]) => st.values[k] === v);
    while (!matches(s) && Date.now() - t0 < limit) {
      await page.waitForTimeout(100);
      s = await read(page);
    }
    if (cmd.screenshot) { await page.screenshot({ path: cmd.screenshot, fullPage: true }); }
    out({ event: 'waited', matched: matches(s), elapsed_ms: Date.now() - t0, ...s });
  }
}

main().then(cleanup, async (e) => {
  await cleanup();
  fail(String(e && e.stack || e));
});
