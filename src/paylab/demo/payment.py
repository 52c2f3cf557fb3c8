"""The fraud form of the demo: what a typed payment may be (known cards and merchants, amounts and dates the data
has seen), friendly messages when it is not, and the champion's answer with a SHAP waterfall.

    facts = PaymentFacts.from_interim(root / "data" / "interim")      # lazy scans of the ingest stage's parquet
    problems = facts.validate(card_id=1, merchant_id=2, amount=49.9, when=datetime(2019, 10, 1, 12))
    answer = score_payment(service, txn, out_png)                      # decision, proba, reasons, waterfall png
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl


@dataclass
class PaymentFacts:
    cards: dict[int, int]          # card_id -> client_id
    merchants: dict[int, int]      # merchant_id -> its most frequent MCC
    amount_range: tuple[float, float]
    first: pd.Timestamp
    last: pd.Timestamp

    @classmethod
    def from_interim(cls, interim: Path) -> PaymentFacts:
        """Facts of data/interim (cards.parquet, transactions.parquet), scanned lazily: a few columns only."""
        interim = Path(interim)
        for name in ("cards.parquet", "transactions.parquet"):
            if not (interim / name).exists():
                raise FileNotFoundError(f"{interim / name}: missing (run `make repro` first)")
        cards = pl.read_parquet(interim / "cards.parquet", columns=["card_id", "client_id"])
        tx = pl.scan_parquet(interim / "transactions.parquet")
        merchants = (tx.group_by("merchant_id", "mcc").agg(pl.len().alias("n")).sort("n", descending=True)
                     .unique("merchant_id", keep="first").collect())
        lo, hi, first, last = tx.select(pl.col("amount").quantile(0.001).alias("lo"),
                                        pl.col("amount").quantile(0.999).alias("hi"),
                                        pl.col("timestamp").min().alias("first"),
                                        pl.col("timestamp").max().alias("last")).collect().row(0)
        return cls(cards=dict(zip(cards["card_id"].to_list(), cards["client_id"].to_list(), strict=True)),
                   merchants=dict(zip(merchants["merchant_id"].to_list(), merchants["mcc"].to_list(), strict=True)),
                   amount_range=(float(min(lo, 0.0)), float(hi)), first=pd.Timestamp(first), last=pd.Timestamp(last))

    def examples(self, n: int = 3) -> tuple[list[int], list[int]]:
        return sorted(self.cards)[:n], sorted(self.merchants)[:n]

    def validate(self, card_id: int, merchant_id: int, amount: float, when: datetime) -> list[str]:
        """Friendly messages, one per problem (empty: the payment can be scored)."""
        problems = []
        cards, merchants = self.examples()
        if int(card_id) not in self.cards:
            problems.append(f"Unknown card {int(card_id)}: choose one of the {len(self.cards):,} cards in the data "
                            f"(e.g. {', '.join(map(str, cards))}).")
        if int(merchant_id) not in self.merchants:
            problems.append(f"Unknown merchant {int(merchant_id)}: choose one of the {len(self.merchants):,} "
                            f"merchants in the data (e.g. {', '.join(map(str, merchants))}).")
        lo, hi = self.amount_range
        if not np.isfinite(amount) or not lo <= float(amount) <= hi:
            problems.append(f"Amount ${amount:,.2f} is outside the range the model has seen "
                            f"(${lo:,.2f} to ${hi:,.2f}, the 0.1%-99.9% of the data's amounts).")
        when = pd.Timestamp(when)
        if not self.first.floor("D") <= when <= self.last.floor("D") + pd.Timedelta(days=1):
            problems.append(f"Date {when:%Y-%m-%d %H:%M} is outside the data ({self.first:%Y-%m-%d} to "
                            f"{self.last:%Y-%m-%d}).")
        return problems

    def transaction(self, card_id: int, merchant_id: int, amount: float, when: datetime, channel: str,
                    errors: str | None) -> dict:
        """The request the fraud service decides (client and MCC from the card and the merchant)."""
        return {"transaction_id": -1, "timestamp": pd.Timestamp(when).isoformat(), "card_id": int(card_id),
                "client_id": int(self.cards[int(card_id)]), "merchant_id": int(merchant_id),
                "mcc": int(self.merchants[int(merchant_id)]), "amount": float(amount), "channel": channel,
                "errors": errors or None}


def score_payment(service, txn: dict, waterfall_png: Path | None = None) -> dict:
    """The service's decision (state unchanged) and, with `waterfall_png`, the SHAP waterfall of its model on the
    payment's online features (written there; key `waterfall` is its path)."""
    from paylab.fraud.requests import normalise

    answer = dict(service.decide(txn, update=False))
    if waterfall_png is not None:
        from paylab.fraud import explain as fx

        X = service.frame([service.state.features(normalise(txn))])
        explanation = fx.shap_explanation(service.model, X)
        answer["waterfall"] = fx.plot_waterfall(explanation, 0, Path(waterfall_png))
    return answer
