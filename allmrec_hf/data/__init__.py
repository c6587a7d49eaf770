"""Data pipeline: readers for Amazon 2014/2018/2023 and generic logs, preprocessing, the fixed evaluation protocol.

Names are imported on first use (reading data needs `datasets` and `pandas`, which a loaded model does not)."""

from ..utils import lazy_exports


EXPORTS = {
    "DataArguments": "prepare",
    "DataFormatError": "errors",
    "PreparedDataset": "prepared",
    "ProblemLog": "errors",
    "RawInteractions": "raw",
    "Sequences": "preprocessing",
    "SyntheticShop": "synthetic",
    "build_sequences": "preprocessing",
    "prepare_dataset": "prepare",
    "read_amazon2014": "amazon",
    "read_amazon2018": "amazon",
    "read_amazon2023": "amazon",
    "read_interaction_table": "generic",
    "read_sequences": "generic",
}
__getattr__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
