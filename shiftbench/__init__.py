"""shiftbench: the memory of linear RNNs on the shift-K task (François, Orvieto, Bach, COLT 2025)."""

__version__ = "0.1.0"
