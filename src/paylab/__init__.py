"""PayLab: a reproducible data-science workbench for a payment platform."""

__version__ = "0.1.0"
