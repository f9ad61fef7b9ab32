#!/usr/bin/env python3
"""Per-test result of an xunit XML report (the GPU test executable's -xml), and the verdict: ✓ when every test passed,
at least --min-tests ran and (with --no-skips) none skipped; ✗ otherwise, exit 1. A missing or unreadable report is ✗."""
import argparse, sys, xml.etree.ElementTree as ET

ap = argparse.ArgumentParser()
ap.add_argument("xml")
ap.add_argument("--min-tests", type=int, default=1)
ap.add_argument("--no-skips", action="store_true", help="a skipped test fails the verdict (on a GPU machine: no GPU found)")
a = ap.parse_args()
try:
    tests = ET.parse(a.xml).getroot().findall(".//test")
except (OSError, ET.ParseError) as e:
    print(f"✗ GPU tests: no readable report ({e})"); sys.exit(1)
count = {"Pass": 0, "Fail": 0, "Skip": 0, "NotRun": 0}
for t in tests:
    result = t.get("result", "?")
    count[result] = count.get(result, 0) + 1
    why = t.findtext("reason") or t.findtext("failure/message") or ""
    print(f"  {result.upper():5} {t.get('name')} ({float(t.get('time', 0)):.2f} s){'  ' + why.strip().splitlines()[0] if why.strip() else ''}")
ok = count["Fail"] == 0 and len(tests) >= a.min_tests and not (a.no_skips and count["Skip"])
print(f"{'✓' if ok else '✗'} GPU tests: {count['Pass']} passed, {count['Fail']} failed, {count['Skip']} skipped of {len(tests)}"
      f" (goal: all of at least {a.min_tests} pass{', none skipped' if a.no_skips else ''})")
sys.exit(0 if ok else 1)
