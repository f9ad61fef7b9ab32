#!/usr/bin/env python3
"""One table of GpuRunner/Python ratios from the JSON that vs-python.sh writes (ENGINE-MODEL-DEVICE-bN-rK.{gpurunner,
python}.json), for every folder given: medians over the repetitions, ratio = median gpurunner samples/s / median
python samples/s (> 1: gpurunner faster), the p50-latency ratio the same way round, the per-rep ratio range, the
output checks of both sides and the goal (ort >= 1.0, torch >= 0.95) with ✓/✗. Exit 1 when a goal is missed, an
output is beyond tolerance, or a case has no figure on either side (a missing figure never counts as met).
usage: ratio_table.py FOLDER [FOLDER...]"""
import glob, json, os, re, statistics, sys

GOALS = {"ort": 1.0, "torch": 0.95}
NAME = re.compile(r"(?P<engine>ort|torch)-(?P<model>\w+)-(?P<device>cpu|cuda)-b(?P<batch>\d+)-r(?P<rep>\d+)\.(?P<side>gpurunner|python)\.json$")

def load(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1] if text.startswith("{\"") else text) if text else None
    except (OSError, ValueError):
        return None

def first_error(path):
    try:
        with open(path) as f:
            lines = [l.strip() for l in f if l.strip()]
        return lines[0][:120] if lines else "no output"
    except OSError:
        return "no output"

cases, engines = {}, {}
for folder in sys.argv[1:]:
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        m = NAME.search(os.path.basename(path))
        if not m:
            continue
        key = (m["engine"], m["device"], m["model"], int(m["batch"]))
        side, rep = m["side"], int(m["rep"])
        r = load(path)
        slot = cases.setdefault(key, {}).setdefault(rep, {})
        if side == "gpurunner":
            ok = r is not None and r.get("verdict") == "PASS"
            slot["g"] = r if ok else None
            if not ok:
                slot["gerr"] = ((r or {}).get("detail") or first_error(path[:-5] + ".err"))[:120]
            elif r:
                engines.setdefault((m["engine"], m["device"]), {})["gpurunner"] = r.get("detail", "")
        else:
            ok = r is not None and "skipped" not in r and "throughputSamplesPerSecond" in r
            slot["p"] = r if ok else None
            if not ok:
                slot["perr"] = ((r or {}).get("skipped") or first_error(path[:-5] + ".err"))[:120]
            else:
                engines.setdefault((m["engine"], m["device"]), {})["python"] = r.get("engine", "")

if not cases:
    sys.exit(f"no vs-python.sh JSON in {' '.join(sys.argv[1:])}")
for (engine, device), e in sorted(engines.items()):
    print(f"{engine} on {device}: gpurunner = {e.get('gpurunner', '-')}; python = {e.get('python', '-')}")
print("| comparison | model | batch | gpurunner samples/s | python samples/s | ratio | p50 µs gpurunner / python | p50 ratio | ratio per rep | outputs | goal |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
met = total = 0
med = statistics.median
for (engine, device, model, batch), reps in sorted(cases.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3])):
    g = [s["g"] for s in reps.values() if s.get("g")]
    p = [s["p"] for s in reps.values() if s.get("p")]
    label = f"{'ORT C# vs onnxruntime' if engine == 'ort' else 'TorchSharp vs torch'} ({device})"
    errors = sorted({s[k] for s in reps.values() for k in ("gerr", "perr") if s.get(k)})
    if not g or not p:
        gt = f"{med(x['throughputSamplesPerSecond'] for x in g):,.0f}" if g else "-"
        pt = f"{med(x['throughputSamplesPerSecond'] for x in p):,.0f}" if p else "-"
        total += 1
        print(f"| {label} | {model} | {batch} | {gt} | {pt} | - | - | - | - | {'; '.join(errors)} | ✗ no figure |")
        continue
    gt, pt = med(x["throughputSamplesPerSecond"] for x in g), med(x["throughputSamplesPerSecond"] for x in p)
    g50, p50 = med(x["latency"]["p50Ms"] for x in g) * 1000, med(x["p50Ms"] for x in p) * 1000
    per = sorted(s["g"]["throughputSamplesPerSecond"] / s["p"]["throughputSamplesPerSecond"] for s in reps.values() if s.get("g") and s.get("p"))
    ratio, goal = gt / pt, GOALS[engine]
    total += 1
    within = all(x.get("within", True) for x in p)
    met += ratio >= goal and within
    outputs = "both within tolerance" if within else "python beyond tolerance"
    jit = sum(x.get("jitCompiledDuringLoop", 0) for x in g)
    if jit:
        outputs += f"; gpurunner's JIT compiled {jit} method(s) inside timed loops"
    if errors:
        outputs += f"; {len(errors)} failed rep(s): {'; '.join(errors)}"
    print(f"| {label} | {model} | {batch} | {gt:,.0f} | {pt:,.0f} | {ratio:.2f}x | {g50:.1f} / {p50:.1f} | {p50 / g50:.2f}x | "
          f"{per[0]:.2f}-{per[-1]:.2f} ({len(per)}) | {outputs} | ≥ {goal:.2f} {'✓' if ratio >= goal and within else '✗'} |")
print(f"{'✓' if met == total else '✗'} goal met in {met} of {total} cases")
sys.exit(0 if met == total else 1)
