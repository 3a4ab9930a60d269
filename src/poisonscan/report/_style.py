"""The inline stylesheet of ``report.html`` (plain CSS, no external resources)."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root { --bad: #c0392b; --bad-bg: #fdecea; --ok: #23856d; --ok-bg: #e6f4ef; --ink: #1f2933;
        --muted: #637381; --line: #dfe3e8; --card: #ffffff; --page: #f4f6f8;
        --warn: #b45309; --warn-bg: #fff4e0; --warn-line: #f4c98a; --unsure: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 18px 0 8px; }
h4 { font-size: 14px; margin: 12px 0 4px; }
a { color: #2557a7; }
.meta, .muted { color: var(--muted); }
.meta { margin: 0 0 20px; font-size: 14px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
          padding: 18px 22px; margin: 0 0 18px; }
#verdict { border-left: 8px solid var(--ok); }
#verdict.poisoned { border-left-color: var(--bad); }
#verdict.suspicious { border-left-color: var(--warn); }
#verdict.inconclusive { border-left-color: var(--unsure);
                        background: repeating-linear-gradient(135deg, var(--card) 0 14px,
                                                              #fffaf0 14px 28px); }
#verdict .reason { background: var(--warn-bg); border-left: 4px solid var(--warn);
                   padding: 6px 10px; }
#verdict .training.bad { color: var(--unsure); font-weight: 600; }
.headline { font-size: 21px; font-weight: 600; margin: 0 0 10px; }
.poisoned .headline { color: var(--bad); }
.clean .headline { color: var(--ok); }
.suspicious .headline { color: var(--warn); }
.inconclusive .headline { color: var(--unsure); }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { padding: 5px 12px 5px 0; text-align: right; border-bottom: 1px solid var(--line);
         white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
tr.flagged td { background: var(--bad-bg); }
tr.suspicious td { background: var(--warn-bg); }
ul.why { margin: 2px 0 0; padding-left: 18px; white-space: normal; max-width: 300px;
         text-align: left; font-size: 12px; color: var(--unsure); }
.cls-body td:last-child, .cls-body th:last-child { text-align: left; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 10px 0 0; }
.chip { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 13px;
        text-decoration: none; border: 1px solid var(--line); color: var(--ink); }
.chip.poisoned { background: var(--bad-bg); border-color: #f3b7b0; color: var(--bad); }
.chip.clean { background: var(--ok-bg); border-color: #b5dccf; color: var(--ok); }
.chip.suspicious { background: var(--warn-bg); border-color: var(--warn-line);
                   color: var(--warn); }
.chip.too-small { color: var(--muted); }
.badge { display: inline-block; min-width: 74px; text-align: center; padding: 1px 8px;
         border-radius: 4px; font-size: 12px; font-weight: 700; text-transform: uppercase;
         letter-spacing: .04em; margin-right: 10px; }
.badge.poisoned { background: var(--bad); color: #fff; }
.badge.clean { background: var(--ok-bg); color: var(--ok); }
.badge.suspicious { background: var(--warn); color: #fff; }
.badge.too-small { background: var(--line); color: var(--muted); }
details.cls { border: 1px solid var(--line); border-radius: 8px; margin: 0 0 10px; }
details.cls.poisoned { border-color: #f3b7b0; }
details.cls.suspicious { border-color: var(--warn-line); }
details.cls > summary { cursor: pointer; padding: 10px 14px; font-weight: 600; list-style: none; }
details.cls > summary::-webkit-details-marker { display: none; }
details.cls > summary::before { content: "\\25B8"; display: inline-block; width: 18px;
                                 color: var(--muted); }
details.cls[open] > summary::before { content: "\\25BE"; }
details.cls[open] > summary { border-bottom: 1px solid var(--line); }
details.cls .summary-note { font-weight: 400; color: var(--muted); }
.cls-body { padding: 6px 16px 14px; overflow-x: auto; }
img.scatter { display: block; max-width: 100%; height: auto; margin: 6px 0; }
.sprites { display: flex; flex-wrap: wrap; gap: 18px; }
.sprites figure { margin: 0; }
.sprites img { image-rendering: pixelated; max-width: 100%; height: auto;
               border: 1px solid var(--line); background: #fff; }
figcaption { font-size: 13px; color: var(--muted); max-width: 480px; }
figure.diff { margin: 14px 0 0; }
img.diff { display: block; max-width: 100%; height: auto; }
ol.shown { max-height: 12em; overflow-y: auto; margin: 4px 0; padding-left: 2.5em;
           font-family: ui-monospace, monospace; font-size: 12px; }
figcaption b.flag, h4 b.flag, td b.flag { color: var(--bad); }
figcaption b.warn, h4 b.warn, td b.warn { color: var(--warn); }
.note { font-size: 13px; color: var(--muted); margin: 4px 0 8px; }
.terms .term { display: inline-block; background: #eef2f7; border-radius: 4px;
               padding: 0 6px; margin: 0 4px 4px 0; font-family: ui-monospace, monospace; }
ol.samples { margin: 4px 0 8px; padding-left: 22px; font-size: 14px; }
mark { background: #ffe8a3; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0;
        font-size: 13px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-word; }
.better { color: var(--ok); } .worse { color: var(--bad); }
footer { color: var(--muted); font-size: 13px; }
"""
