"""The report's opening: the paper's claim chain for every pair of runs, and findings in sentences.

Orchestration only: the numbers come from the stages' files (through the modules that wrote them), the
verdicts and the sentences from tfescape.claims. Pairs follow the configuration's order (the earlier run
plays SGD's role, as in the default SGD-vs-Adam comparison).
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np

from tfescape.claims import Estimate, claim_chain, findings, wilson_interval

_NAN = float("nan")


def findings_section(ctx):
    """The "Findings" section (sentences and the claim-chain table), or None before any stage ran."""
    from tfescape import plots
    from tfescape.report import Section, Table

    c = ctx.config
    styles = plots.optimizer_styles(c.specs)
    numbers = _run_numbers(ctx)
    diverged = [
        f"{styles[k].label}'s training {ctx.divergence(k)}, so it is left out of the findings."
        for k in c.keys
        if ctx.divergence(k)
    ]
    if not numbers["top_eigenvalue"]:
        return Section("Findings", " ".join(diverged)) if diverged else None
    sentences, rows = list(diverged), []
    for a, b in itertools.combinations(ctx.analysed_keys, 2):
        measured = _pair_links(numbers, a, b)
        if not measured:
            continue
        links = claim_chain(measured)
        sentences += findings(
            links,
            styles[a].label,
            styles[b].label,
            observed_over_predicted=_observed_over_predicted(numbers, styles, (a, b)),
            floor_share=numbers["floor_share"].get(b),
        )
        rows += [
            (
                f"{styles[a].label} vs {styles[b].label}",
                link.number,
                link.quantity,
                f"{styles[a].label} {link.expect}",
                link.first.text(),
                link.second.text(),
                link.verdict,
            )
            for link in links
        ]
    if not rows:
        return Section("Findings", " ".join(diverged)) if diverged else None
    table = Table(("pair", "link", "quantity", "paper expects", "first", "second", "verdict"), rows)
    text = " ".join(sentences) + (
        "\n\nThe links: (1) tail index, (2) Levy measure m(W) of the escaping jumps, (3) predicted and (4) "
        "observed escape from the sharper of the two minima, (5) top Hessian eigenvalue, (6) test accuracy. "
        "A verdict is inconclusive when the 95% intervals overlap; values without an interval are compared "
        "as they are."
    )
    return Section("Findings", text, tables=[table])


def _run_numbers(ctx) -> dict:
    """Every number the claim chain uses, per run (or per basin and run), read from the stage files."""
    from tfescape.experiments._io import csv_columns, read_csv
    from tfescape.experiments.context import final_preconditioner
    from tfescape.experiments.noise_tail import noise_folder
    from tfescape.experiments.observed_escape import load_observed
    from tfescape.experiments.sharpness import load_probe

    c, results = ctx.config, ctx.results
    out = {k: {} for k in ("alpha", "top_eigenvalue", "accuracy", "floor_share", "escape", "observed")}
    for key in c.keys:
        noise_csv = os.path.join(noise_folder(results, key), "tail_index.csv")
        if os.path.exists(noise_csv):
            last = read_csv(noise_csv)[-1]
            out["alpha"][key] = Estimate(last["alpha"], last["ci_low"], last["ci_high"])
        probe_json = os.path.join(results.path, "sharpness", f"{key}.json")
        if os.path.exists(probe_json):
            out["top_eigenvalue"][key] = float(
                load_probe(os.path.join(results.path, "sharpness"), key).top_eigenvalues[0]
            )
        history = os.path.join(results.path, "train", key, "history.csv")
        if os.path.exists(history):
            cols = csv_columns(read_csv(history))
            if "val_accuracy" in cols:
                acc = float(cols["val_accuracy"][-1])
                low, high = wilson_interval(acc, max(1, ctx.data.info.num_test))
                out["accuracy"][key] = Estimate(100 * acc, 100 * low, 100 * high)
        epsilon = c.spec(key).params.get("epsilon")
        if epsilon is not None:
            try:
                q = final_preconditioner(results, key)
                out["floor_share"][key] = float(np.mean(q < 10 * epsilon))
            except ValueError:
                pass
    escape_csv = os.path.join(results.path, "escape", "escape_times.csv")
    if os.path.exists(escape_csv):
        for row in read_csv(escape_csv):
            out["escape"][(str(row["basin"]), str(row["optimizer"]))] = row
    for row in load_observed(results):
        out["observed"][(str(row["basin"]), str(row["optimizer"]))] = row
    return out


def _pair_links(numbers, a, b) -> dict:
    measured = {}
    if a in numbers["alpha"] and b in numbers["alpha"]:
        measured[1] = (numbers["alpha"][a], numbers["alpha"][b])
    eig = numbers["top_eigenvalue"]
    if a in eig and b in eig:
        measured[5] = (Estimate(eig[a]), Estimate(eig[b]))
        sharper = a if eig[a] >= eig[b] else b
        esc = numbers["escape"]
        if (sharper, a) in esc and (sharper, b) in esc:
            measured[2] = tuple(Estimate(esc[(sharper, k)]["m_w"]) for k in (a, b))
            measured[3] = tuple(Estimate(esc[(sharper, k)]["predicted_iterations"]) for k in (a, b))
        obs = numbers["observed"]
        if (sharper, a) in obs and (sharper, b) in obs:
            measured[4] = tuple(_observed_estimate(obs[(sharper, k)]) for k in (a, b))
    if a in numbers["accuracy"] and b in numbers["accuracy"]:
        measured[6] = (numbers["accuracy"][a], numbers["accuracy"][b])
    return measured


def _observed_estimate(row) -> Estimate:
    return Estimate(float(row["mean"]), float(row["low"]), float(row["high"]))


def _observed_over_predicted(numbers, styles, keys) -> list[tuple[str, Estimate]]:
    out = []
    for (basin, key), row in numbers["observed"].items():
        if key not in keys or basin not in keys or (basin, key) not in numbers["escape"]:
            continue
        predicted = float(numbers["escape"][(basin, key)]["predicted_iterations"])
        if not (math.isfinite(predicted) and predicted > 0):
            continue
        obs = _observed_estimate(row)
        what = f"{styles[key].label} from the {styles[basin].label} minimum"
        out.append((what, Estimate(obs.value / predicted, obs.low / predicted, obs.high / predicted)))
    return out
