"""Fraud detection: the modelling table and models, decisions, explanations and the online service.

    from paylab.fraud.imbalance import make_pipeline       # "none" | "class_weight:<r>" | "smote:<s>" | ...
    from paylab.fraud.decision import DecisionEngine, evaluate_decisions
    from paylab.fraud.explain import shap_explanation, plot_global, plot_waterfall, lime_explanation   # for people
    from paylab.fraud.reasons import ReasonCoder, ServiceReasons           # reason codes in plain words
    from paylab.fraud.encoding import transform, RowEncoder, RowScorer     # the model's input; the fast row path
    from paylab.fraud.service import warm_service, FraudService            # online decisions (docs/SERVING.md)
    from paylab.fraud.registry import log_service, load_champion           # MLflow model `fraud`, alias champion
"""
