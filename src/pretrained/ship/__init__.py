"""Taking a model elsewhere: exports to portable formats (export.py: ONNX, CTranslate2, with
parity checks) and, from the serve capability, Hub pushes and Space/project scaffolds."""
