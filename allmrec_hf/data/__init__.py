"""Data pipeline: readers for Amazon 2014/2018/2023 and generic logs, preprocessing, the fixed evaluation protocol."""

from .amazon import read_amazon2014, read_amazon2018, read_amazon2023
from .errors import DataFormatError, ProblemLog
from .generic import read_interaction_table, read_sequences
from .prepare import DataArguments, prepare_dataset
from .prepared import PreparedDataset
from .preprocessing import Sequences, build_sequences
from .raw import RawInteractions
from .synthetic import SyntheticShop


__all__ = [
    "DataArguments",
    "DataFormatError",
    "PreparedDataset",
    "ProblemLog",
    "RawInteractions",
    "Sequences",
    "SyntheticShop",
    "build_sequences",
    "prepare_dataset",
    "read_amazon2014",
    "read_amazon2018",
    "read_amazon2023",
    "read_interaction_table",
    "read_sequences",
]
