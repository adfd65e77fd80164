"""Jobs: resumable work over many inputs.

store.py        the SQLite job table + one folder per job (checkpoint, result) — transcription
files.py        atomic writes (temp file + rename) and the sweep of leftovers after a kill
transcribe.py   files / folders / S3 prefixes → one transcription job per input
batch.py        batch jobs over datasets: chunks, committed results, resume (run_batch)
manifest.py     a batch job's state folder beside its output (BatchStore)
batch_tasks.py  per-task adapters for batch jobs; ray_executor.py: the Ray Data executor
"""

from .store import Job, JobStore

__all__ = ["Job", "JobStore"]
