#!/usr/bin/env bash
# Runs HERE (no GPU): publishes gpurunner self-contained for linux-x64 into .device/ (git-ignored) so that the
# device tool can carry it to the GPU machine, which has no .NET. See shared/device/RECIPE.md.
#   bench/gpu/publish.sh            NativeAOT build (fast start) -> .device/gpurunner/gpurunner
#   ORT_GPU=1 bench/gpu/publish.sh  also build the JIT flavour with the ONNX Runtime GPU package -> .device/jit/
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device
rm -rf "$out/gpurunner" "$out/jit"; mkdir -p "$out"
dotnet publish src/GpuRunner.Cli -c Release -r linux-x64 -p:PublishAot=true -p:CppCompilerAndLinker=gcc \
  -p:StripSymbols=true -o "$out/gpurunner" "$@" | grep -vE "^\s*(Determining|Restored|All projects)" || true
rm -f "$out"/gpurunner/*.pdb "$out"/gpurunner/*.dbg "$out"/gpurunner/*.dll 2>/dev/null || true
# Hydrated NativeAOT data makes a 44 MB binary: ship it and the big libraries xz'd (bench/gpu/unpack.sh undoes it).
xz -T0 -6 -f "$out"/gpurunner/gpurunner "$out"/gpurunner/libonnxruntime.so "$out"/gpurunner/libSkiaSharp.so
# The JIT flavour hosts what NativeAOT cannot (TorchSharp's libtorch binding, ORT CUDA EP).
# Partial trimming (only assemblies marked trimmable; TorchSharp is left whole) keeps the pair under the carry limit.
dotnet publish src/GpuRunner.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial \
  -p:PublishReadyToRun=false ${ORT_GPU:+-p:OrtGpu=true} -o "$out/jit" | grep -vE "^\s*(Determining|Restored|All projects)" || true
( cd "$out/jit" && rm -f *.pdb createdump libmscordbi.so libmscordaccore.so libclrgc*.so libcoreclrtraceptprovider.so \
    onnxruntime.dll 2>/dev/null; rm -rf runtimes/win* runtimes/osx* runtimes/linux-arm* runtimes/linux-musl* 2>/dev/null || true )
rm -f "$out/jit.tgz"; tar -C "$out" -cf - jit | xz -T0 -6 > "$out/jit.txz" && rm -rf "$out/jit"
du -sh "$out"/*
