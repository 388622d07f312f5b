// Drives the `ilm data label` page in headless Chromium (puppeteer-core) with the keyboard, as a
// user would. Usage: node label_browser.mjs NPM_DIR CHROMIUM URL PHASE
//   phase1: checks the page (labels with their keys, progress, problems, text direction), then
//           labels lines 1 and 2 (keys 1, 2) and leaves line 4 on screen.
//   phase2: after a restart: resumes at line 4; 3, u (undo), 1 (relabel), s (skip 5, pressed on
//           an Arabic layout: key "س", code KeyS), 2 (line 6), 3 (line 5 again) -> all done.
// Exits non-zero with a message on the first difference.
import { createRequire } from "node:module";

const [npmDir, chromium, url, phase] = process.argv.slice(2);
const require = createRequire(npmDir.replace(/\/?$/, "/"));
const puppeteer = require("puppeteer-core");

const deadline = setTimeout(() => {
  console.error("FAIL: label_browser.mjs took over 60 s");
  process.exit(1);
}, 60000);

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const args = ["--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"];
if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args,
                                         timeout: 30000 });
let failed = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(url, { waitUntil: "load" });

  // Waits until the page shows `line` ready for a key ("done" when line is null).
  const expectLine = async (line, after) => {
    try {
      await page.waitForFunction(
          (want) => want === null ? document.body.dataset.state === "done"
                                  : document.body.dataset.state === "ready" &&
                                        document.body.dataset.line === String(want),
          {}, line);
    } catch (e) {
      const got = await page.evaluate(() => [document.body.dataset.state, document.body.dataset.line,
                                             document.getElementById("status").textContent]);
      throw new Error(`after ${after}: expected line ${line}, page shows state/line/status ${
          JSON.stringify(got)}`);
    }
  };
  const text = (id) => page.$eval("#" + id, (el) => el.textContent);
  const press = async (key, line) => {
    await page.keyboard.press(key);
    await expectLine(line, `key ${key}`);
  };

  if (phase === "phase1") {
    await expectLine(1, "loading");
    const buttons = await page.$$eval("button", (bs) => bs.map((b) => b.textContent));
    check(JSON.stringify(buttons) ===
              JSON.stringify(["1positive", "2negative", "3neutral", "sskip", "uundo"]),
          "buttons: " + JSON.stringify(buttons));
    check((await text("progress")) === "0 / 5 labeled", "progress: " + (await text("progress")));
    check((await text("text")) === "good movie", "text of line 1: " + (await text("text")));
    check(await page.$eval("#text", (el) => el.getAttribute("dir") === "auto"), "#text dir");
    check(await page.$eval("#text", (el) => el.matches(":dir(ltr)")), "line 1 is not ltr");
    const problems = await page.$eval("#problems", (el) => !el.hidden && el.textContent);
    check(problems && problems.includes("line 3: not valid JSON"), "problems: " + problems);

    await press("1", 2);
    check((await text("text")) === "فيلم سيء", "text of line 2: " + (await text("text")));
    check(await page.$eval("#text", (el) => el.matches(":dir(rtl)") &&
                                            getComputedStyle(el).direction === "rtl"),
          "the Arabic record is not shown right to left");
    check((await text("progress")) === "1 / 5 labeled", "progress: " + (await text("progress")));
    await press("2", 4);
    check((await text("progress")) === "2 / 5 labeled", "progress: " + (await text("progress")));
  } else if (phase === "phase2") {
    await expectLine(4, "loading (resume)");
    check((await text("progress")) === "2 / 5 labeled", "resumed progress: " + (await text("progress")));
    await press("3", 5);
    await press("u", 4);
    check((await text("progress")) === "2 / 5 labeled", "after undo: " + (await text("progress")));
    check((await text("status")).includes("undone: line 4"), "status: " + (await text("status")));
    await press("1", 5);
    // Skip on an Arabic keyboard layout: the key is "س", the physical key KeyS.
    await page.evaluate(() => document.dispatchEvent(
        new KeyboardEvent("keydown", { key: "س", code: "KeyS", bubbles: true })));
    await expectLine(6, "skip (س)");
    await press("2", 5);  // line 5 comes back after the others
    await page.keyboard.press("3");
    await expectLine(null, "key 3 on the last record");
    check((await text("progress")) === "5 / 5 labeled", "final progress: " + (await text("progress")));
    check((await text("text")).includes("All records are labeled"), "done text: " + (await text("text")));
  } else {
    throw new Error("unknown phase " + phase);
  }
  check(pageErrors.length === 0, "errors in the page: " + pageErrors.join("; "));
} catch (e) {
  console.error("FAIL: " + phase + ": " + e.message);
  failed = true;
} finally {
  await browser.close().catch(() => {});
  clearTimeout(deadline);
}
process.exit(failed ? 1 : 0);
