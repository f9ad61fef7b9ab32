#!/usr/bin/env bash
# Regenerates smoke_kernels.ptx from smoke_kernels.cu with Debian's clang (apt-get install clang-14); commit both.
# A unit test (SmokeKernelsTests) regenerates it when clang-14 is present and fails if the committed copy is stale.
set -euo pipefail
cd "$(dirname "$0")"
"${CLANG:-clang-14}" -x cuda --cuda-device-only --cuda-gpu-arch=sm_52 -nocudainc -nocudalib -O3 -S \
  -o "${1:-smoke_kernels.ptx}" smoke_kernels.cu
