#!/usr/bin/env python3
"""statsmodels baselines beside `gpulse-aggregator forecast-eval`, on the same trace, same origins,
same horizons and the same scoring (see ForecastEvaluation.swift for the procedure):

- missing values filled causally (value one season earlier, else the previous value); never scored;
- the first --warmup-days are used to fit statsmodels (and only to learn, for gpulse);
- from the end of the warm-up on, every step is a forecast origin; forecasts at each horizon are
  scored against present targets; MASE divides by the warm-up's seasonal-naive MAE.

statsmodels models, parameters fitted once on the warm-up, then run forward with those parameters
(no refit per origin, which at 80,000 origins would take hours):
- ExponentialSmoothing: additive damped trend, additive season, heuristic initialisation;
  forecasts from its own level/trend/season states at each origin.
- ARIMA(p,d,q): orders chosen by AIC on the warm-up over p<=3, d<=1, q<=2; forecasts from the
  Kalman filter's predicted states at each origin (the state-space forecast recursion).

Usage: bench/forecast_baseline.py --trace FILE [--gpulse BIN] [--markdown]
"""
import argparse
import json
import math
import subprocess
import sys
import time
import warnings

import numpy as np
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from harness import summary_row  # noqa: E402


def load(path):
    times, values = [], []
    with open(path) as f:
        for i, line in enumerate(f):
            cells = [c.strip() for c in line.rstrip("\n").split(",")]
            try:
                t = float(cells[0])
            except ValueError:
                if i == 0:
                    continue  # header
                d, hm = cells[0].split("T")
                y, mo, da = (int(x) for x in d.split("-"))
                parts = [int(x) for x in hm.split(":")]
                t = (np.datetime64(f"{y:04d}-{mo:02d}-{da:02d}", "D").astype(int) * 86400
                     + parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0))
            times.append(t)
            values.append(float(cells[1]) if cells[1] else math.nan)
    return int(times[1] - times[0]), np.array(values)


def fill_causally(y, season):
    out = y.copy()
    for i in range(len(out)):
        if math.isnan(out[i]):
            out[i] = out[i - season] if (i >= season and season > 1) else (out[i - 1] if i > 0 else 0.0)
    return out


def score(raw, forecasts, h, warmup, scale):
    """forecasts[t] is the forecast made at origin t for t+h."""
    n = len(raw)
    origins = np.arange(warmup - 1, n - h)
    targets = raw[origins + h]
    f = forecasts[origins]
    ok = ~np.isnan(targets)
    err = np.abs(targets[ok] - f[ok])
    denom = np.abs(targets[ok]) + np.abs(f[ok])
    smape = np.where(denom > 0, 200 * err / np.where(denom > 0, denom, 1), 0)
    return err.mean() / scale, smape.mean(), int(ok.sum())


def holt_winters(filled, warmup, season, horizons):
    common = dict(trend="add", damped_trend=True, seasonal="add", seasonal_periods=season)
    fit = ExponentialSmoothing(filled[:warmup], initialization_method="heuristic", **common).fit()
    p = fit.params
    full = ExponentialSmoothing(
        filled, initialization_method="known", initial_level=p["initial_level"], initial_trend=p["initial_trend"],
        initial_seasonal=p["initial_seasons"], **common,
    ).fit(smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"],
          smoothing_seasonal=p["smoothing_seasonal"], damping_trend=p["damping_trend"], optimized=False)
    level, trend, seas = np.asarray(full.level), np.asarray(full.trend), np.asarray(full.season)
    phi = p["damping_trend"]
    n = len(filled)
    out = {}
    for h in horizons:
        damp = sum(phi ** i for i in range(1, h + 1))
        f = np.full(n, np.nan)
        t = np.arange(season, n - h)
        k = (h - 1) // season + 1
        f[t] = level[t] + damp * trend[t] + seas[t + h - season * k]
        out[h] = f
    # Check the forecast recursion against statsmodels' own one-step fitted values.
    fitted = np.asarray(full.fittedvalues)
    t = np.arange(season, n - 1)
    gap = np.nanmax(np.abs(out[1][t] - fitted[t + 1])) if 1 in out else 0.0
    desc = (f"ExponentialSmoothing(add damped trend, add season {season}): alpha={p['smoothing_level']:.3f} "
            f"beta={p['smoothing_trend']:.3f} gamma={p['smoothing_seasonal']:.3f} phi={phi:.3f}; "
            f"max |h=1 recursion - statsmodels fittedvalues| = {gap:.2e}")
    return out, desc


def arima(filled, warmup, horizons):
    best = None
    for d in (0, 1):
        for p in (1, 2, 3):
            for q in (0, 1, 2):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = ARIMA(filled[:warmup], order=(p, d, q), trend="c" if d == 0 else "n").fit()
                except Exception:
                    continue
                if best is None or res.aic < best[0]:
                    best = (res.aic, (p, d, q), res)
    aic, order, res = best
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = res.apply(filled)
    fr = full.filter_results
    Z = np.asarray(fr.design)[:, :, 0]
    T = np.asarray(fr.transition)[:, :, 0]
    c = np.asarray(fr.state_intercept)[:, 0:1]
    d_obs = float(np.asarray(fr.obs_intercept)[0, 0])
    A = np.asarray(fr.predicted_state)[:, 1:]  # column t = a_{t+1|t}
    n = len(filled)
    out = {}
    hmax = max(horizons)
    state = A.copy()
    for h in range(1, hmax + 1):
        if h in horizons:
            out[h] = (Z @ state)[0] + d_obs
        state = T @ state + c
    pred = np.asarray(full.predict())  # one-step-ahead predictions of y_t given y_<t
    gap = np.max(np.abs(out[1][:-1][warmup:] - pred[1:][warmup:])) if 1 in out else 0.0
    return out, f"ARIMA{order} (AIC {aic:.0f} on the warm-up); max |h=1 recursion - statsmodels predict| = {gap:.2e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--gpulse", default=".build/release/gpulse-aggregator")
    ap.add_argument("--warmup-days", type=float, default=7)
    ap.add_argument("--horizons-minutes", default="1,5,15,60")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--summary", help="append summary rows (JSON lines) for bench/report.py")
    args = ap.parse_args()

    ours = json.loads(subprocess.run(
        [args.gpulse, "forecast-eval", "--trace", args.trace, "--warmup-days", str(args.warmup_days),
         "--horizons-minutes", args.horizons_minutes, "--json"], check=True, capture_output=True, text=True).stdout)
    step, raw = load(args.trace)
    season, warmup, horizons = ours["seasonSteps"], ours["warmupSteps"], ours["horizons"]
    assert step == ours["stepSeconds"] and len(raw) == ours["rows"], "trace read differently"
    filled = fill_causally(raw, season)
    pres = ~np.isnan(raw)
    idx = np.arange(season, warmup)
    ok = pres[idx] & pres[idx - season]
    scale = np.abs(raw[idx][ok] - raw[idx - season][ok]).mean()
    assert abs(scale - ours["scale"]) < 1e-6 * max(1, scale), (scale, ours["scale"])

    rows = {}
    notes = []
    for name, fn in (("sm_exp_smoothing", lambda: holt_winters(filled, warmup, season, horizons)),
                     ("sm_arima", lambda: arima(filled, warmup, horizons))):
        t0 = time.time()
        forecasts, desc = fn()
        notes.append(f"{name}: {desc}; {time.time() - t0:.1f} s")
        rows[name] = {h: score(raw, forecasts[h], h, warmup, scale) for h in horizons}

    def gpulse(model):
        return {s["horizon"]: (s["mase"], s["smape"], s["count"]) for s in ours["scores"] if s["model"] == model}

    models = sorted({s["model"] for s in ours["scores"]}, key=lambda m: (m != "gpulse_selected", m))
    for m in models:
        rows["gpulse " + m if m != "gpulse_selected" else "gpulse_selected"] = gpulse(m)
    for name in rows:
        for h in horizons:
            count = rows[name][h][2]
            assert count == rows["gpulse_selected"][h][2], f"{name} h={h}: scored {count} targets, gpulse {rows['gpulse_selected'][h][2]}"

    unit = lambda h: f"{h * step // 60} min" if h * step < 3600 else f"{h * step // 3600} h"
    head = ["model"] + [f"h={h} ({unit(h)})" for h in horizons]
    table = [head] + [[name] + [f"{rows[name][h][0]:.3f} / {rows[name][h][1]:.1f}%" for h in horizons] for name in rows]
    verdict = []
    for h in horizons:
        baseline = min(rows["sm_exp_smoothing"][h][0], rows["sm_arima"][h][0])
        sel = rows["gpulse_selected"][h][0]
        verdict.append(f"h={h}: gpulse_selected {sel:.3f} vs best statsmodels {baseline:.3f} -> "
                       f"{'no worse' if sel <= baseline else 'WORSE'} (ratio {sel / baseline:.3f})")
    cost = ", ".join(f"{c['model']} {c['nanosPerUpdate']:.0f} ns" for c in ours["updateCost"])

    for h in horizons:
        best = min(("sm_exp_smoothing", "sm_arima"), key=lambda n: rows[n][h][0])
        summary_row(args.summary, f"forecast MASE, {ours['trace']}, {unit(h)} ahead", rows["gpulse_selected"][h][0], "MASE",
                    f"statsmodels {best.removeprefix('sm_')} (best of two)", rows[best][h][0], "lower")
    title = f"{ours['trace']}: {ours['rows']} rows of {step} s, {ours['missing']} missing, season {season}, warm-up {warmup}, origins scored per horizon {rows['gpulse_selected'][horizons[0]][2]}"
    if args.markdown:
        print(f"#### {title}\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in table[1:]:
            print("| " + " | ".join(r) + " |")
        print("\nMASE / sMAPE, lower is better.\n")
        for v in verdict:
            print(f"- {v}")
        print(f"- gpulse update cost: {cost}")
        for n in notes:
            print(f"- {n}")
        print()
    else:
        print(title)
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for r in table:
            print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        print("\n".join(verdict))
        print("gpulse update cost:", cost)
        print("\n".join(notes))
    return 0 if all("no worse" in v for v in verdict) else 1


if __name__ == "__main__":
    sys.exit(main())
