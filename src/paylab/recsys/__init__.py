"""Merchant recommendation for users and user targeting for merchants (issue 12; partial: data, split, baselines)."""
