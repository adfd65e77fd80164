"""Ship: export a task as a Hugging Face Space (space.py), scaffold an MLOps project (scaffold.py)."""
