"""Unsupervised anomaly detection for fraud (issue 11, in progress: the modules below are tested; the 04_anomaly
stage, the fraud service's anomaly layer and the latency benchmark with the layer on are not wired yet).

- `views`: what each detector looks at (global, raw, card history, card burst, merchant shift; behaviour profiles)
- `detectors`: the library detectors behind one interface (scores higher = more anomalous, training percentiles)
- `suite`: the (detector, view) runs of params `anomaly.runs`, fitted and scored together
- `evaluate`: missed-by-the-model, unlabelled top-k against the oracle, decision-layer differences with intervals
- `serving`: the served detector as an MLflow pyfunc
"""
