#!/usr/bin/env bash
# Runs HERE (no GPU): publishes self-contained linux-x64 builds into .device/ (git-ignored) so that the device tool can
# carry them to the GPU machine, which has no .NET. See shared/device/RECIPE.md. Carry limit: 64 MiB with the tree.
#   bench/gpu/publish.sh              all three flavours below
#   bench/gpu/publish.sh proof        only what `bench/gpu/run-all.sh proof` runs: aot + tests (≈ 30 MB)
#   bench/gpu/publish.sh aot|jit|tests ...   the flavours named
#   aot    NativeAOT gpurunner (fast start)                      -> .device/gpurunner/ (big files xz'd)
#   jit    JIT gpurunner: TorchSharp's libtorch binding, ORT CUDA EP (ORT_GPU=1: the ONNX Runtime GPU package)
#                                                                 -> .device/jit.txz
#   tests  the GPU tests (tests/GpuRunner.Gpu.Tests), an xunit.v3 executable, trimmed -> .device/gputests.txz
# bench/gpu/unpack.sh (sourced by every bench/gpu script) undoes the compression on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device
flavours=("$@"); [ ${#flavours[@]} -gt 0 ] || flavours=(aot jit tests)
[ "${flavours[*]}" = proof ] && flavours=(aot tests)
mkdir -p "$out"
quiet() { grep -vE "^\s*(Determining|Restored|All projects)" || true; }
# What never runs on Linux x64 or on a machine without a debugger: other platforms' natives, createdump, the
# debugger and GC side libraries, symbols.
prune() { ( cd "$1" && rm -rf *.pdb createdump libmscordbi.so libmscordaccore.so libclrgc*.so libcoreclrtraceptprovider.so \
    onnxruntime.dll runtimes/win* runtimes/osx* runtimes/linux-arm* runtimes/linux-musl* 2>/dev/null || true ); }
for f in "${flavours[@]}"; do
  case "$f" in
    aot)
      rm -rf "$out/gpurunner"
      dotnet publish src/GpuRunner.Cli -c Release -r linux-x64 -p:PublishAot=true -p:CppCompilerAndLinker=gcc \
        -p:StripSymbols=true -o "$out/gpurunner" | quiet
      rm -f "$out"/gpurunner/*.pdb "$out"/gpurunner/*.dbg "$out"/gpurunner/*.dll 2>/dev/null || true
      # Hydrated NativeAOT data makes a 44 MB binary: ship it and the big libraries xz'd.
      xz -T0 -6 -f "$out"/gpurunner/gpurunner "$out"/gpurunner/libonnxruntime.so "$out"/gpurunner/libSkiaSharp.so ;;
    jit)
      rm -rf "$out/jit" "$out/jit.txz"
      # Partial trimming (only assemblies marked trimmable; TorchSharp is left whole) keeps it under the carry limit.
      dotnet publish src/GpuRunner.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial \
        -p:PublishReadyToRun=false ${ORT_GPU:+-p:OrtGpu=true} -o "$out/jit" | quiet
      prune "$out/jit"
      tar -C "$out" -cf - jit | xz -T0 -6 > "$out/jit.txz" && rm -rf "$out/jit" ;;
    tests)
      rm -rf "$out/gputests" "$out/gputests.txz"
      # The csproj makes a RID publish self-contained and trimmed; the tests run the aot gpurunner (GPURUNNER_BIN), so
      # the ONNX Runtime, TorchSharp and Skia natives its Diagnostics reference drags in never load there.
      dotnet publish tests/GpuRunner.Gpu.Tests -c Release -r linux-x64 -o "$out/gputests" | quiet
      prune "$out/gputests"
      ( cd "$out/gputests" && rm -rf CodeCoverage macos models libonnxruntime.so libSkiaSharp.so libHarfBuzzSharp.so \
          libLibTorchSharp.so testhost.dll Microsoft.TestPlatform.*.dll Microsoft.VisualStudio.*.dll )
      tar -C "$out" -cf - gputests | xz -T0 -6 > "$out/gputests.txz" && rm -rf "$out/gputests" ;;
    *) echo "publish.sh: unknown flavour '$f' (aot, jit, tests, proof)" >&2; exit 2 ;;
  esac
done
du -sh "$out"/*
