"""Taking a model elsewhere: Hub uploads of fine-tuning runs (push.py), exports to portable
formats (export.py: ONNX, CTranslate2, with parity checks), a task as a Hugging Face Space
(space.py), an MLOps project scaffold (scaffold.py)."""
