"""Jobs: resumable work over many inputs, recorded in a local store under PRETRAINED_HOME.

store.py      the SQLite job table + one folder per job (checkpoint, result)
files.py      atomic writes (temp file + rename) and the sweep of leftovers after a kill
transcribe.py files / folders / S3 prefixes → one transcription job per input
"""

from .store import Job, JobStore

__all__ = ["Job", "JobStore"]
