#!/usr/bin/env bash
# ONNX Runtime from C# vs Python onnxruntime on the same .onnx (goal ratio >= 1.0): see vs-python.sh for the method.
# usage: bench/frameworks/ort-vs-python.sh [--device cpu|cuda]
exec bash "$(dirname "$0")/vs-python.sh" --engine ort "$@"
