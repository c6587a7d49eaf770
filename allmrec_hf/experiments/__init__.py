"""The paper's experiments as code: baselines, ablations, scenarios, tables and plots."""

from .runner import ExperimentRunner, ExperimentSettings
from .tables import all_tables, write_plots


__all__ = ["ExperimentRunner", "ExperimentSettings", "all_tables", "write_plots"]
