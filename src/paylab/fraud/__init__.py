"""Fraud detection: imbalance strategies (`imbalance`) and the layered decision engine (`decision`).

    from paylab.fraud.imbalance import make_pipeline       # "none" | "class_weight:<r>" | "smote:<s>" | ...
    from paylab.fraud.decision import DecisionEngine, evaluate_decisions
"""
