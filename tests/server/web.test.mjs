// The chat page at / in headless Chromium (puppeteer-core driving the system chromium): an answer
// streams in and the page shows it. Skipped when no chromium binary is installed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import puppeteer from "puppeteer-core";
import { startServer } from "./harness.mjs";

const CHROMIUM = [process.env.MM_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
  .find((p) => p && existsSync(p));

let srv;
before(async () => { srv = await startServer(["--parallel", "2", "--ctx-size", "1024"]); });
after(async () => { await srv?.stop(); });

test("chat page streams an answer", { skip: !CHROMIUM && "chromium not installed", timeout: 60000 }, async () => {
  const html = await (await fetch(srv.base + "/")).text();
  assert.match(html, /<title>minimax\.cpp chat<\/title>/);
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, timeout: 30000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(srv.base + "/?q=" + encodeURIComponent("Hello there"), { waitUntil: "load", timeout: 20000 });
    await page.waitForSelector(".assistant[data-done]", { timeout: 30000 });
    const state = await page.$eval(".assistant", (el) => ({
      done: el.dataset.done, answer: el.querySelector(".answer").textContent,
      error: el.querySelector(".error")?.textContent ?? null,
    }));
    assert.equal(state.error, null);
    assert.equal(state.done, "1");
    assert.ok(state.answer.length > 0, "an answer appeared");
    assert.equal(await page.$eval(".user", (el) => el.textContent), "Hello there");
    assert.deepEqual(errors, []);
    // A second turn from the input box.
    await page.type("#input", "And again?");
    await page.click("#send");
    await page.waitForFunction(() => document.querySelectorAll(".assistant[data-done]").length === 2, { timeout: 30000 });
    // The random tiny model may end a turn at once, so only check that the turn finished without error.
    const errs = await page.$$eval(".error", (els) => els.map((e) => e.textContent));
    assert.deepEqual(errs, []);
    assert.equal(await page.$$eval(".assistant[data-done='1']", (els) => els.length), 2);
  } finally {
    await browser.close();
  }
});
