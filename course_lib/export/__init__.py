"""Trained models taken out of PyTorch: ONNX files for the book's in-browser demos."""
