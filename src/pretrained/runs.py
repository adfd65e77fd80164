"""The old name of `runlog` (the SQLite run log), kept while tasks/summarize.py,
train/finetune.py and ship/export.py still import it — owned by another change this round.
`pretrained.runs` IS `pretrained.runlog` (one module object), so patches to either apply."""

import sys

from . import runlog

sys.modules[__name__] = runlog
