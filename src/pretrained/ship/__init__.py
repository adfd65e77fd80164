"""Shipping what was made: Hub uploads (push), and later Space/ONNX/CTranslate2 exports."""
