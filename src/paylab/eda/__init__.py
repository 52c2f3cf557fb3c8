"""EDA and merchant analytics on the interim layer: data quality, merchants, RFM segments, fraud rates,
and the real-vs-generated marginals table (`marginals_table`).

Pure functions on pandas or polars frames with the DATA.md interim columns; tables come back as pandas. The merchant
analytics (volume tables, top merchants, repeat customers, RFM) also take a Spark DataFrame (`eda.engine: spark`,
`analytics_frame`): they then aggregate in Spark (`paylab.eda.spark`) and finish with the same polars code.
Plot helpers live in `paylab.eda.plots` (imported on demand: it pulls in matplotlib).
"""

from paylab.eda.frames import AMOUNT_BAND_LABELS, LABELED
from paylab.eda.fraud_rates import (
    fraud_by_amount_band,
    fraud_by_channel,
    fraud_by_geo,
    fraud_by_hour,
    fraud_by_mcc,
    fraud_rate_by,
    label_counts,
    overall_fraud_rate,
    rate_of,
    wilson_interval,
)
from paylab.eda.loading import ENGINES, analytics_frame, load_interim, load_table, write_json
from paylab.eda.marginals import MARGINAL_COLUMNS, QUANTITY_NAMES, REAL, marginals, marginals_table
from paylab.eda.merchants import (
    by_channel,
    by_hour,
    by_location,
    by_mcc,
    by_merchant,
    by_weekday,
    hour_weekday_matrix,
    repeat_customer_share,
    repeat_customers,
    top_merchants,
    volume_by,
    volume_concentration,
)
from paylab.eda.quality import (
    duplicate_counts,
    ingest_summary,
    load_ingest_metrics,
    null_counts,
    null_table,
    quality_report,
)
from paylab.eda.segments import (
    RFM_SEGMENT_MAP,
    SEGMENT_GRID,
    quantile_scores,
    rfm_scores,
    rfm_segments,
    rfm_table,
    segment_summary,
)
from paylab.eda.summary import eda_metrics, overview

__all__ = [
    "AMOUNT_BAND_LABELS",
    "ENGINES",
    "LABELED",
    "MARGINAL_COLUMNS",
    "QUANTITY_NAMES",
    "REAL",
    "RFM_SEGMENT_MAP",
    "SEGMENT_GRID",
    "analytics_frame",
    "by_channel",
    "by_hour",
    "by_location",
    "by_mcc",
    "by_merchant",
    "by_weekday",
    "duplicate_counts",
    "eda_metrics",
    "fraud_by_amount_band",
    "fraud_by_channel",
    "fraud_by_geo",
    "fraud_by_hour",
    "fraud_by_mcc",
    "fraud_rate_by",
    "hour_weekday_matrix",
    "ingest_summary",
    "label_counts",
    "load_ingest_metrics",
    "load_interim",
    "load_table",
    "marginals",
    "marginals_table",
    "null_counts",
    "null_table",
    "overall_fraud_rate",
    "overview",
    "quality_report",
    "quantile_scores",
    "rate_of",
    "repeat_customer_share",
    "repeat_customers",
    "rfm_scores",
    "rfm_segments",
    "rfm_table",
    "segment_summary",
    "top_merchants",
    "volume_by",
    "volume_concentration",
    "wilson_interval",
    "write_json",
]
