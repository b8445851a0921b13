"""Data layer: labelled tables, loaders, the local -> hub -> embedded source chain and the
provenance it records, balanced sampling, stratified splits, SQuAD questions."""

from lmgate.data.loaders import data_dir, labeled, load_hub, read_table
from lmgate.data.sampling import ShortCellWarning
from lmgate.data.sources import HubSplit, load_source
from lmgate.data.splits import balanced, split_off, stratified_split, train_val_test
from lmgate.data.squad import Question, read_squad
from lmgate.data.types import DataSplits, LabeledData, Provenance, carried_info

__all__ = [
    "DataSplits", "HubSplit", "LabeledData", "Provenance", "Question", "ShortCellWarning",
    "balanced", "carried_info", "data_dir", "labeled", "load_hub", "load_source", "read_squad",
    "read_table", "split_off", "stratified_split", "train_val_test",
]
