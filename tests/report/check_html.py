#!/usr/bin/env python3
"""Checks a report.html file with standard parsers.

usage: check_html.py FILE [--names NAMES.json] [--steps CHART_ID=N ...]

- html.parser: every element closed in order (void elements aside), no <script>, no on*=
  attributes, no src/href (self-contained), one <title>;
- each <svg>...</svg> parsed as XML (xml.etree): well-formed, with its paths;
- each line path: as many M/L commands as data-points, data-points <= data-rows; with
  --steps chart-2=40 every path of the SVG with id chart-2 has exactly 40 rows and 40 points;
- --names: a JSON list of strings (run names) that must each show as text, verbatim.
Prints a summary; exits 1 on problems.
"""
import html.parser
import json
import re
import sys
import xml.etree.ElementTree as ET

path = sys.argv[1]
args = sys.argv[2:]
names, steps = [], {}
while args:
    a = args.pop(0)
    if a == "--names":
        with open(args.pop(0), encoding="utf-8") as f:
            names = json.load(f)
    elif a == "--steps":
        k, v = args.pop(0).split("=")
        steps[k] = int(v)

problems = []


def bad(msg):
    problems.append(msg)
    print("PROBLEM:", msg)


with open(path, encoding="utf-8") as f:
    doc = f.read()

VOID = {"meta", "br", "img", "hr", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text, self.titles, self.count = [], [], 0, 0

    def handle_starttag(self, tag, attrs):
        self.count += 1
        if tag == "script":
            bad("a <script> element")
        for k, v in attrs:
            if k.startswith("on"):
                bad("an event attribute %s=%r" % (k, v))
            if k in ("src", "href", "xlink:href"):
                bad("an external reference %s=%r" % (k, v))
        if tag == "title" and "svg" not in self.stack:
            self.titles += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.count += 1
        for k, v in attrs:
            if k.startswith("on") or k in ("src", "href"):
                bad("attribute %s=%r" % (k, v))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            bad("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack else "nothing"))
            return
        self.stack.pop()

    def handle_data(self, data):
        if "style" not in self.stack[-1:]:
            self.text.append(data)


c = Checker()
c.feed(doc)
c.close()
if c.stack:
    bad("unclosed elements: %s" % c.stack)
if c.titles != 1:
    bad("%d document titles" % c.titles)

text = re.sub(r"\s+", " ", "".join(c.text))
for n in names:
    want = re.sub(r"\s+", " ", n).strip()
    if want and want not in text:
        bad("name %r not shown verbatim" % n)

SVG = "{http://www.w3.org/2000/svg}"
charts = re.findall(r"<svg\b.*?</svg>", doc, re.S)
total_paths = total_points = 0
for raw in charts:
    try:
        svg = ET.fromstring(raw)
    except ET.ParseError as e:
        bad("an SVG is not well-formed XML: %s" % e)
        continue
    cid = svg.get("id")
    paths = [p for p in svg.iter(SVG + "path") if "line" in (p.get("class") or "").split()]
    pts_summary = []
    for p in paths:
        d = p.get("d") or ""
        cmds = len(re.findall(r"[ML]", d))
        pts, rows = int(p.get("data-points")), int(p.get("data-rows"))
        coords = re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", d)
        if cmds != pts or len(coords) != pts:
            bad("%s: path with %d commands, data-points=%d" % (cid, cmds, pts))
        if pts > rows:
            bad("%s: %d points from %d rows" % (cid, pts, rows))
        if cid in steps and not (pts == rows == steps[cid]):
            bad("%s: %d rows, %d points, want %d of each" % (cid, rows, pts, steps[cid]))
        pts_summary.append(pts)
        total_paths += 1
        total_points += pts
    g_pts = svg.findall(".//" + SVG + "g[@class='pts']")
    for g in g_pts:
        for circ in g.findall(SVG + "circle"):
            if circ.find(SVG + "title") is None:
                bad("%s: a point without a hover title" % cid)
                break
    ticks = len(svg.findall(".//" + SVG + "g[@class='axis x']/" + SVG + "text"))
    yticks = len(svg.findall(".//" + SVG + "g[@class='axis y']/" + SVG + "text"))
    if ticks < 2 or yticks < 2:
        bad("%s: %d x and %d y tick labels" % (cid, ticks, yticks))
    print("%s: %d lines, points %s, %d x ticks, %d y ticks" % (cid, len(paths), pts_summary, ticks, yticks))
for cid in steps:
    if not any(('id="%s"' % cid) in raw for raw in charts):
        bad("no chart %s" % cid)
legends = len(re.findall(r'<ul class="legend">', doc))
if legends != len(charts):
    bad("%d legends for %d charts" % (legends, len(charts)))
print("%s: %d elements, %d charts, %d lines, %d points, %d names checked, %d problems" %
      (path.rsplit("/", 1)[-1], c.count, len(charts), total_paths, total_points, len(names), len(problems)))
sys.exit(1 if problems else 0)
