"""The stage's metrics JSON and its plain-language verdict, generated from the measured numbers."""

from __future__ import annotations

NAMES = {"gbm": "LightGBM on aggregates", "lstm": "LSTM on the weekly sequence",
         "hybrid": "hybrid (GBM + LSTM logit)", "oracle": "latent hazard (oracle)"}


def metrics_json(blocks: dict, diffs: dict, champion: str, **extra) -> dict:
    """`model` (the champion of LSTM and hybrid, named), `baseline` (GBM), `oracle` (latent ceiling, when the data
    has one), a block per model and the paired differences."""
    out = {"model": {"name": champion, **blocks[champion]}, "baseline": {"name": "gbm", **blocks["gbm"]}}
    if "oracle" in blocks:
        out["oracle"] = {"name": "latent_ceiling_churn_hazard", **blocks["oracle"]}
    out.update({name: block for name, block in blocks.items() if name != "oracle"})
    out["differences"] = diffs
    out.update(extra)
    return out


def _diff_line(d: dict, metric: str) -> str:
    x = d[metric]
    return f"{x['difference']:+.3f} [{x['ci_low']:+.3f}, {x['ci_high']:+.3f}]: {x['verdict']}"


def verdict(blocks: dict, diffs: dict, champion: str) -> str:
    """Which model wins, by how much, with the paired intervals (ROC-AUC and AP), and where the oracle stands."""
    lines = []
    for name in ("gbm", "lstm", "hybrid", "oracle"):
        if name in blocks:
            b = blocks[name]
            lines.append(f"- **{NAMES[name]}**: ROC-AUC {b['roc_auc']:.3f} [{b['roc_auc_ci_low']:.3f}, "
                         f"{b['roc_auc_ci_high']:.3f}], AP {b['average_precision']:.3f} "
                         f"[{b['average_precision_ci_low']:.3f}, {b['average_precision_ci_high']:.3f}], "
                         f"top-decile lift {b['lift_at_10pct']:.1f} (captures {b['capture_at_10pct']:.0%}), "
                         f"Brier {b['brier']:.4f}")
    for a in ("lstm", "hybrid"):
        d = diffs[f"{a}_minus_gbm"]
        lines.append(f"- {NAMES[a]} minus GBM: ROC-AUC {_diff_line(d, 'roc_auc')}; "
                     f"AP {_diff_line(d, 'average_precision')}")
    ranking = {m: diffs[f"{m}_minus_gbm"]["average_precision"]["verdict"] for m in ("lstm", "hybrid")}
    winners = [m for m, v in ranking.items() if v == "better"]
    if winners:
        best = max(winners, key=lambda m: diffs[f"{m}_minus_gbm"]["average_precision"]["difference"])
        head = (f"**{NAMES[best]} beats the GBM baseline** on average precision by "
                f"{diffs[f'{best}_minus_gbm']['average_precision']['difference']:+.3f} "
                f"(the paired interval excludes 0).")
    elif any(v == "worse" for v in ranking.values()):
        head = "**The GBM baseline wins**: a sequence model is measurably worse on average precision."
    else:
        head = ("**No measurable winner**: neither the LSTM nor the hybrid differs from the GBM baseline on average "
                "precision by more than the paired bootstrap interval allows.")
    head += f" The champion (chosen on the validation cutoffs) is the {NAMES[champion]}."
    if "oracle" in blocks and f"{champion}_minus_oracle" in diffs:
        d = diffs[f"{champion}_minus_oracle"]["roc_auc"]
        rel = {"better": "above", "worse": "below", "no measurable difference": "level with"}[d["verdict"]]
        head += (f" It sits {rel} the latent-hazard oracle on ROC-AUC ({d['difference']:+.3f} [{d['ci_low']:+.3f}, "
                 f"{d['ci_high']:+.3f}]): the hazard is the long-run risk, while the generator thins a user's activity "
                 f"over the 60 days before the churn, timing that the observed history shows and the hazard does not.")
    return head + "\n\n" + "\n".join(lines)
