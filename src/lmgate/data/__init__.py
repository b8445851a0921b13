"""Data layer: labelled tables, loaders and sources, balanced sampling, stratified splits,
SQuAD questions."""

from lmgate.data.loaders import data_dir, labeled, load_hub, read_table
from lmgate.data.sampling import ShortCellWarning
from lmgate.data.splits import balanced, split_off, stratified_split, train_val_test
from lmgate.data.squad import Question, read_squad
from lmgate.data.types import DataSplits, LabeledData

__all__ = [
    "DataSplits", "LabeledData", "Question", "ShortCellWarning", "balanced", "data_dir",
    "labeled", "load_hub", "read_squad", "read_table", "split_off", "stratified_split",
    "train_val_test",
]
