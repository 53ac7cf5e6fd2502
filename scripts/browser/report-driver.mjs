// Opens firebreak's HTML report in headless Chromium for crates/incident/tests/report_browser.rs.
//
//   node scripts/browser/report-driver.mjs REPORT.html SCREENSHOT.png
//
// Needs FIREBREAK_CHROMIUM and FIREBREAK_PLAYWRIGHT_DIR (scripts/setup.d/70-chromium.sh).
// Loads the file in a 1280×900 viewport with JavaScript disabled (the report has none),
// saves a full-page screenshot and one of the first screen (SCREENSHOT-fold.png), and
// prints one JSON line:
//   {"event":"ready", boxes: {summary, do_next, timeline: {top,bottom,left,right,height}},
//    do_next: [{kind,title}], broken_cells: [text of a no-wrap cell on more than one line],
//    links: [href of every <a>], requests: [every URL the page requested], console_errors}
// Any failure prints {"event":"error","message":...} and exits 1.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, screenshot] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (message) => { out({ event: 'error', message }); process.exit(1); };

if (!file || !screenshot) { fail('usage: report-driver.mjs REPORT.html SCREENSHOT.png'); }
const exe = process.env.FIREBREAK_CHROMIUM;
const pwDir = process.env.FIREBREAK_PLAYWRIGHT_DIR;
if (!exe || !pwDir) { fail('FIREBREAK_CHROMIUM / FIREBREAK_PLAYWRIGHT_DIR unset: run scripts/setup.d/70-chromium.sh and source .tools/env.d/chromium.sh'); }

let chromium;
try {
  ({ chromium } = createRequire(path.join(pwDir, 'package.json'))('playwright-core'));
} catch (e) {
  fail(`cannot load playwright-core from ${pwDir}: ${e.message} (run scripts/setup.d/70-chromium.sh)`);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'firebreak-report-profile-'));
let context;

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: exe,
    headless: true,
    javaScriptEnabled: false,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  const consoleErrors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') { consoleErrors.push(m.text()); } });
  page.on('request', (r) => requests.push(r.url()));
  const url = pathToFileURL(path.resolve(file)).href;
  await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-fold.png' });
  // page.evaluate runs in the page's utility world, so it works with the page's JS off
  const s = await page.evaluate(() => {
    const box = (sel) => {
      const e = document.querySelector(sel);
      if (!e) { return null; }
      const r = e.getBoundingClientRect();
      return { top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, left: r.left, right: r.right, height: r.height };
    };
    const broken = [];
    document.querySelectorAll('td.nw, span.nw').forEach((c) => {
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
      boxes: { summary: box('#summary'), do_next: box('#do-next'), timeline: box('svg.timeline') },
      do_next: Array.from(document.querySelectorAll('#do-next > ol > li')).map((li) => ({
        kind: li.dataset.kind || '', title: (li.querySelector('b') || li).textContent })),
      broken_cells: broken,
      links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.getAttribute('href')),
      title: document.title,
    };
  });
  out({ event: 'ready', screenshot, ...s, requests: requests.filter((u) => u !== url), console_errors: consoleErrors });
}

main().then(async () => {
  try { await context.close(); } catch (_) { /* gone */ }
  fs.rmSync(profile, { recursive: true, force: true });
}, async (e) => {
  try { if (context) { await context.close(); } } catch (_) { /* gone */ }
  fs.rmSync(profile, { recursive: true, force: true });
  fail(String(e && e.stack || e));
});
