# Sourced by the bench/gpu scripts on the GPU machine: publish.sh ships the big files xz-compressed and the JIT
# flavour and the GPU tests as tarballs (the device tool carries 64 MiB at most); unpack them once, in place.
for f in .device/gpurunner/*.xz; do [ -e "$f" ] && xz -d -f "$f"; done
[ -f .device/jit.txz ] && [ ! -x .device/jit/gpurunner ] && xz -dc .device/jit.txz | tar -xf - -C .device
[ -f .device/gputests.txz ] && [ ! -x .device/gputests/GpuRunner.Gpu.Tests ] && xz -dc .device/gputests.txz | tar -xf - -C .device
# The flavor of the card this machine has (the scripts' operator catalogue prices it): h100 or h200.
export GPU_FLAVOR=${GPU_FLAVOR:-$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | grep -qi 'H100' && echo h100 || echo h200)}
true
