"""Data layer: labelled tables, loaders, balanced sampling and stratified splits."""

from lmgate.data.loaders import data_dir, labeled, load_hub, read_table
from lmgate.data.sampling import ShortCellWarning, balanced, split_off, stratified_split, train_val_test
from lmgate.data.types import DataSplits, LabeledData

__all__ = [
    "DataSplits", "LabeledData", "ShortCellWarning", "balanced", "data_dir", "labeled",
    "load_hub", "read_table", "split_off", "stratified_split", "train_val_test",
]
