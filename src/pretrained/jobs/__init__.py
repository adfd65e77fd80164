"""Long-running jobs: resumable batch jobs over datasets (batch.py, manifest.py, ray_engine.py,
batch_tasks.py) and, from the transcription capability, transcription jobs."""
