using System.Buffers.Binary;
using GpuRunner.Native;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Smoke.Cuda;

/// <summary>One GPU for the smoke test: its primary context, the smoke kernels, a stream, and buffers kept between
/// checks (pinned host memory is slow to get in a VM, so it is allocated once).</summary>
internal sealed unsafe class CudaSmokeDevice : ISmokeDevice, IDisposable
{
    private const uint Block = 256;
    private readonly CudaDevice _device;
    private readonly CudaContext _context;
    private readonly NvmlDevice? _nvml;
    private readonly CudaModule? _module;
    private readonly Exception? _moduleError;
    private readonly Cublas? _cublas;
    private readonly nint _cublasHandle;
    private readonly CudaStream _stream;
    private readonly (int Major, int Minor) _cc;
    private DeviceMemory? _copySrc, _copyDst, _hostSide;
    private PinnedMemory? _pinned;
    private byte[]? _pageable;
    private bool _peerEnabled;

    public SmokeGpuInfo Info { get; }
    public string? CublasVersion { get; }
    internal CudaContext Context => _context;
    internal CudaDevice Device => _device;

    public CudaSmokeDevice(int ordinal, CudaDevice device, NvmlDevice? nvml, Cublas? cublas, List<string> trace)
    {
        _device = device;
        _nvml = nvml;
        _context = device.RetainPrimaryContext();
        _cc = device.ComputeCapability;
        var (free, total) = _context.MemoryInfo();
        Info = new SmokeGpuInfo(ordinal, device.Name, device.Uuid, device.PciBusId, (long)total, (long)free,
            $"{_cc.Major}.{_cc.Minor}", device.MultiprocessorCount, device.L2CacheBytes);
        _stream = CudaStream.Create(1); // non-blocking: our copies never wait on other work
        try
        {
            _module = CudaModule.LoadPtx(SmokeKernels.Ptx);
        }
        catch (CudaException e)
        {
            // The kernel checks fail with this; the copies, GEMM (cuBLAS) and health still run.
            _moduleError = e;
            trace.Add($"GPU{ordinal}: smoke kernels did not load (PTX JIT): {e.Message}");
        }
        if (cublas is not null)
        {
            try
            {
                _cublasHandle = cublas.Create();
                CublasVersion = cublas.Version(_cublasHandle);
                _cublas = cublas;
            }
            catch (CublasException e)
            {
                // e.g. a cuBLAS built for a newer CUDA than this driver: fall back to our kernel, and say why.
                trace.Add($"GPU{ordinal}: cuBLAS from {cublas.Path} does not start ({e.Message}): GEMM uses gpurunner's own kernel");
            }
        }
    }

    private uint Grid => (uint)Math.Max(1, Info.MultiprocessorCount * 8); // 8 x 256 threads fill an SM

    private CudaFunction Kernel(string name)
    {
        if (_module is null) throw new InvalidOperationException($"smoke kernels unavailable: {_moduleError!.Message}");
        return _module.GetFunction(name);
    }

    private void Current() => _context.MakeCurrent();

    // ---- health and telemetry (NVML) ----

    public GpuHealthFacts ReadHealth()
    {
        if (_nvml is null) return new GpuHealthFacts();
        var d = _nvml;
        var ecc = d.EccEnabled();
        var remap = d.RemappedRows();
        var retiredSingle = d.RetiredPages(doubleBit: false);
        var retiredDouble = d.RetiredPages(doubleBit: true);
        return new GpuHealthFacts
        {
            EccEnabled = ecc.OrNull(),
            EccVolatileUncorrected = ecc is { HasValue: true, Value: true } ? d.EccErrors(uncorrected: true, aggregate: false).OrNull() : null,
            EccAggregateUncorrected = ecc is { HasValue: true, Value: true } ? d.EccErrors(uncorrected: true, aggregate: true).OrNull() : null,
            RetiredPagesSingleBit = retiredSingle.HasValue ? retiredSingle.Value : null,
            RetiredPagesDoubleBit = retiredDouble.HasValue ? retiredDouble.Value : null,
            RetiredPagesPending = d.RetiredPagesPending().OrNull(),
            RowRemapCorrected = remap.HasValue ? remap.Value.Corrected : null,
            RowRemapUncorrected = remap.HasValue ? remap.Value.Uncorrected : null,
            RowRemapPending = remap.HasValue ? remap.Value.Pending : null,
            RowRemapFailure = remap.HasValue ? remap.Value.Failure : null,
            ThrottleReasons = d.ThrottleReasons().OrNullRef(),
            TemperatureC = d.TemperatureC().Map(t => (int)t).OrNull(),
            SlowdownThresholdC = d.SlowdownThresholdC().Map(t => (int)t).OrNull(),
            TemperatureMarginC = d.TemperatureMarginC().OrNull(),
            PcieGen = d.PcieGen().Map(v => (int)v).OrNull(),
            PcieGenMax = d.PcieGenMax().Map(v => (int)v).OrNull(),
            PcieWidth = d.PcieWidth().Map(v => (int)v).OrNull(),
            PcieWidthMax = d.PcieWidthMax().Map(v => (int)v).OrNull(),
            PersistenceMode = d.PersistenceEnabled().OrNull(),
        };
    }

    public TelemetrySample ReadTelemetry()
    {
        if (_nvml is null) return new TelemetrySample(null, null, null, null, null, null);
        var d = _nvml;
        return new TelemetrySample(d.SmClockMHz().Map(v => (double)v).OrNull(), d.MemClockMHz().Map(v => (double)v).OrNull(),
            d.PowerDrawW().OrNull(), d.TemperatureC().Map(v => (double)v).OrNull(), d.ThrottleReasons().OrNullRef(),
            d.EccErrors(uncorrected: true, aggregate: false).OrNull());
    }

    // ---- timing ----

    /// <summary>Warm-up, then each repetition between two events on <paramref name="stream"/> (null: the legacy
    /// default stream, which synchronous copies and cuBLAS use).</summary>
    private static List<double> Time(int reps, CudaStream? stream, CancellationToken ct, Action op, int warmup = 1)
    {
        for (var i = 0; i < warmup; i++) op();
        using var start = CudaEvent.Create();
        using var end = CudaEvent.Create();
        var ms = new List<double>(reps);
        for (var i = 0; i < reps; i++)
        {
            ct.ThrowIfCancellationRequested();
            start.Record(stream);
            op();
            end.Record(stream);
            end.Synchronize();
            ms.Add(CudaEvent.ElapsedMilliseconds(start, end));
        }
        return ms;
    }

    private void EnsureCopyBuffers(long bytes)
    {
        if (_copySrc is not null && (long)_copySrc.Bytes >= bytes) return;
        _copySrc?.Dispose();
        _copyDst?.Dispose();
        _copySrc = DeviceMemory.Allocate((ulong)bytes);
        _copyDst = DeviceMemory.Allocate((ulong)bytes);
        // Random content, not zeros: nothing may run faster on data that compresses or is never written.
        if (_module is not null) WritePattern(_copySrc, MemoryPattern.Random, 1, 0);
        else _copySrc.Fill32(0xA5A5A5A5, (ulong)bytes / 4);
        _context.Synchronize();
    }

    public IReadOnlyList<double> TimeDeviceCopy(long bytes, int reps, CancellationToken ct)
    {
        Current();
        EnsureCopyBuffers(bytes);
        return Time(reps, _stream, ct, () => _copyDst!.CopyFromAsync(_copySrc!, (ulong)bytes, _stream));
    }

    public IReadOnlyList<double> TimeCopyKernel(long bytes, int reps, CancellationToken ct)
    {
        Current();
        EnsureCopyBuffers(bytes);
        var copy = Kernel(SmokeKernels.Copy);
        var vectors = (ulong)bytes / 16;
        var grid = (uint)Math.Clamp((vectors + Block - 1) / Block, 1, int.MaxValue); // covers the buffer: see gr_copy16
        _copyDst!.Fill8(0, (ulong)bytes); // a kernel that copies nothing must not pass on an earlier run's data
        _context.Synchronize();
        var ms = Time(reps, _stream, ct, () =>
        {
            using var args = new KernelArguments().Add(_copySrc!.Pointer).Add(_copyDst!.Pointer).Add(vectors);
            copy.Launch(grid, Block, args, _stream);
        });
        CheckCopied(_copySrc!, _copyDst!, vectors * 16);
        return ms;
    }

    /// <summary>A fast copy that copies wrongly is a fault, not a figure: the first and last MiB must match.</summary>
    private static void CheckCopied(DeviceMemory src, DeviceMemory dst, ulong bytes)
    {
        var n = (int)Math.Min(bytes, 1UL << 20);
        var a = new byte[n];
        var b = new byte[n];
        foreach (var offset in new ulong[] { 0, bytes - (ulong)n })
        {
            src.CopyTo<byte>(a, offset);
            dst.CopyTo<byte>(b, offset);
            var at = a.AsSpan().CommonPrefixLength(b);
            if (at < n)
                throw new InvalidOperationException($"the copy kernel wrote wrong data: byte {offset + (ulong)at} of {bytes} differs from its source");
        }
    }

    private void EnsureHostBuffers(long bytes, bool pinned)
    {
        if (_hostSide is null || (long)_hostSide.Bytes < bytes)
        {
            _hostSide?.Dispose();
            _hostSide = DeviceMemory.Allocate((ulong)bytes);
        }
        if (pinned && (_pinned is null || (long)_pinned.Bytes < bytes))
        {
            _pinned?.Dispose();
            _pinned = PinnedMemory.Allocate((ulong)bytes);
            _pinned.AsSpan<byte>().Fill(0x5A); // fault the pages in now, not during the timing
        }
        if (!pinned && (_pageable is null || _pageable.LongLength < bytes))
        {
            _pageable = GC.AllocateUninitializedArray<byte>(checked((int)bytes), pinned: true);
            _pageable.AsSpan().Fill(0x5A);
        }
    }

    public IReadOnlyList<double> TimeHostCopy(HostCopyKind kind, long bytes, int reps, CancellationToken ct)
    {
        Current();
        var pinned = kind is HostCopyKind.H2DPinned or HostCopyKind.D2HPinned;
        EnsureHostBuffers(bytes, pinned);
        var n = (ulong)bytes;
        return kind switch
        {
            HostCopyKind.H2DPinned => Time(reps, _stream, ct, () => _hostSide!.CopyFromAsync(_pinned!, n, _stream)),
            HostCopyKind.D2HPinned => Time(reps, _stream, ct, () => _hostSide!.CopyToAsync(_pinned!, n, _stream)),
            // Pageable copies are synchronous and staged by the driver through its own pinned buffer.
            HostCopyKind.H2DPageable => Time(reps, null, ct, () => _hostSide!.CopyFrom<byte>(_pageable.AsSpan(0, (int)bytes))),
            HostCopyKind.D2HPageable => Time(reps, null, ct, () => _hostSide!.CopyTo<byte>(_pageable.AsSpan(0, (int)bytes))),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    // ---- GEMM ----

    /// <summary>bf16 where the card has bf16 tensor cores (cc 8.0+), fp16 on Volta/Turing.</summary>
    private (int Type, string Name) GemmType => _cc.Major >= 8 ? (Cublas.CUDA_R_16BF, "bf16") : (Cublas.CUDA_R_16F, "fp16");

    public GemmRun RunGemm(int n, int reps, CancellationToken ct)
    {
        Current();
        if (_cublas is null) return RunFallbackGemm(Math.Min(n, 4096), Math.Min(reps, 5), ct);
        var (type, name) = GemmType;
        var (a, b) = GemmInputs(n, type == Cublas.CUDA_R_16BF, seed: 7);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = DeviceMemory.Allocate((ulong)n * (ulong)n * 2);
        dc.Fill8(0xFF, dc.Bytes); // poison: a GEMM that writes nothing cannot pass the check
        var ms = Time(reps, null, ct, () => _cublas.GemmEx(_cublasHandle, n, n, n, da.Pointer, type, db.Pointer, type, dc.Pointer, type), warmup: 2);
        var c = new ushort[(long)n * n];
        dc.CopyTo<ushort>(c);
        var toFloat = type == Cublas.CUDA_R_16BF ? (Func<ushort, float>)Bf16ToFloat : h => (float)BitConverter.UInt16BitsToHalf(h);
        var error = SampledRelativeError(a, b, i => toFloat(c[i]), n, toFloat);
        return new GemmRun($"cuBLAS {CublasVersion} cublasGemmEx", $"{name} (fp32 accumulate)", TensorCores: _cc.Major >= 7, n, ms,
            error, "float64 host reference at 64 sampled elements");
    }

    private GemmRun RunFallbackGemm(int n, int reps, CancellationToken ct)
    {
        var (a, b) = GemmInputs(n, bf16: true, seed: 7);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = DeviceMemory.Allocate((ulong)n * (ulong)n * 4);
        dc.Fill8(0xFF, dc.Bytes);
        _context.Synchronize(); // the poison (legacy stream) must land before the kernel (our stream) writes
        var gemm = Kernel(SmokeKernels.GemmFallback);
        var grid = ((uint)(n + 15) / 16, (uint)(n + 15) / 16, 1u);
        var ms = Time(reps, _stream, ct, () =>
        {
            // The kernel is row-major; feeding column-major A and B as B^T·A^T gives column-major C = A·B.
            using var args = new KernelArguments().Add(db.Pointer).Add(da.Pointer).Add(dc.Pointer).Add((uint)n).Add((uint)n).Add((uint)n);
            gemm.Launch(grid, (16u, 16u, 1u), args, _stream);
        });
        var c = new float[(long)n * n];
        dc.CopyTo<float>(c);
        var error = SampledRelativeError(a, b, i => c[i], n, Bf16ToFloat);
        return new GemmRun("gpurunner PTX kernel (cuBLAS not found)", "bf16 in, fp32 FMA", TensorCores: false, n, ms, error,
            "float64 host reference at 64 sampled elements");
    }

    public long SustainGemm(int n, CancellationToken ct)
    {
        Current();
        var done = 0L;
        if (_cublas is null)
        {
            while (!ct.IsCancellationRequested) done += RunFallbackGemm(2048, 3, CancellationToken.None).Milliseconds.Count + 1;
            return done;
        }
        var (type, _) = GemmType;
        var (a, b) = GemmInputs(n, type == Cublas.CUDA_R_16BF, seed: 11);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = DeviceMemory.Allocate((ulong)n * (ulong)n * 2);
        while (!ct.IsCancellationRequested)
        {
            for (var i = 0; i < 10; i++) _cublas.GemmEx(_cublasHandle, n, n, n, da.Pointer, type, db.Pointer, type, dc.Pointer, type);
            _context.Synchronize();
            done += 10;
        }
        return done;
    }

    private DeviceMemory Upload(ushort[] data)
    {
        var m = DeviceMemory.Allocate((ulong)data.LongLength * 2);
        m.CopyFrom<ushort>(data);
        return m;
    }

    /// <summary>Uniform [-1, 1) inputs from SplitMix64 (never zeros: METHOD.md saw a bf16 GEMM run 13 % faster on
    /// zeros), rounded to bf16 or fp16, column-major n x n.</summary>
    internal static (ushort[] A, ushort[] B) GemmInputs(int n, bool bf16, ulong seed)
    {
        var a = new ushort[(long)n * n];
        var b = new ushort[(long)n * n];
        Parallel.For(0, n, col =>
        {
            for (var row = 0; row < n; row++)
            {
                var i = (long)col * n + row;
                a[i] = Encode(Uniform(seed, (ulong)i), bf16);
                b[i] = Encode(Uniform(seed + 1, (ulong)i), bf16);
            }
        });
        return (a, b);
    }

    private static float Uniform(ulong seed, ulong i) =>
        (float)((MemoryPatterns.SplitMix64(seed * 0x9E3779B97F4A7C15UL + i) >> 40) / (double)(1UL << 24) * 2 - 1);

    private static ushort Encode(float v, bool bf16) => bf16 ? FloatToBf16(v) : BitConverter.HalfToUInt16Bits((Half)v);

    /// <summary>Round to nearest even, as the hardware and PyTorch convert (inputs are finite).</summary>
    internal static ushort FloatToBf16(float v)
    {
        var bits = BitConverter.SingleToUInt32Bits(v);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    internal static float Bf16ToFloat(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>‖c − ref‖ / ‖ref‖ over 64 sampled elements of column-major C = A·B, reference in float64.</summary>
    internal static double SampledRelativeError(ushort[] a, ushort[] b, Func<long, float> c, int n, Func<ushort, float> decode)
    {
        double num = 0, den = 0;
        for (var s = 0; s < 64; s++)
        {
            var h = MemoryPatterns.SplitMix64(0xC0FFEEUL + (ulong)s);
            var row = (int)(h % (ulong)n);
            var col = (int)((h >> 32) % (ulong)n);
            double reference = 0;
            for (var k = 0; k < n; k++)
                reference += (double)decode(a[(long)k * n + row]) * decode(b[(long)col * n + k]);
            var got = c((long)col * n + row);
            num += (got - reference) * (got - reference);
            den += reference * reference;
        }
        return den > 0 ? Math.Sqrt(num / den) : double.NaN;
    }

    // ---- memtest ----

    private void WritePattern(DeviceMemory chunk, MemoryPattern p, ulong seed, ulong word0)
    {
        using var args = new KernelArguments().Add(chunk.Pointer).Add(chunk.Bytes / 16).Add(word0).Add(seed);
        Kernel(SmokeKernels.Write(p)).Launch(Grid, Block, args, _stream);
    }

    private void VerifyPattern(DeviceMemory chunk, MemoryPattern p, ulong seed, ulong word0, DeviceMemory control, int cap)
    {
        using var args = new KernelArguments().Add(chunk.Pointer).Add(chunk.Bytes / 16).Add(word0).Add(seed)
            .Add(control.Pointer).Add(control.Pointer + 8).Add((ulong)cap);
        Kernel(SmokeKernels.Verify(p)).Launch(Grid, Block, args, _stream);
    }

    public IMemtestSession OpenMemtest(long targetBytes)
    {
        Current();
        return new CudaMemtest(this, targetBytes);
    }

    private sealed class CudaMemtest : IMemtestSession
    {
        private const long MaxChunk = 4L << 30, MinChunk = 64L << 20;
        private readonly CudaSmokeDevice _d;
        private readonly DeviceMemory _control;
        private readonly List<DeviceMemory> _chunks = [];

        public CudaMemtest(CudaSmokeDevice d, long target)
        {
            _d = d;
            _control = DeviceMemory.Allocate(8 * (1 + 3 * (ulong)SmokePlan.MaxLoggedErrors));
            try
            {
                SelfCheck();
                var left = target;
                var size = Math.Min(MaxChunk, left) / 16 * 16;
                while (left >= MinChunk && size >= MinChunk)
                {
                    try
                    {
                        _chunks.Add(DeviceMemory.Allocate((ulong)size));
                        left -= size;
                        size = Math.Min(size, left) / 16 * 16;
                    }
                    catch (CudaException e) when (e.Result == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
                    {
                        size /= 2; // fragmentation or another process: take smaller pieces, stop at 64 MiB
                    }
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public long Bytes => _chunks.Sum(c => (long)c.Bytes);
        public int Chunks => _chunks.Count;

        /// <summary>Proves the verify kernel on this GPU reports a flipped bit at the right address before trusting its
        /// "0 errors": write a small buffer, flip one bit from the host, verify.</summary>
        private void SelfCheck()
        {
            using var probe = DeviceMemory.Allocate(1 << 20);
            var (errors, log) = Pass(MemoryPattern.Random, 99, [probe], inject: (probe, 4096 + 8, 1UL << 33), out _, out _);
            var expected = probe.Pointer + 4096 + 8;
            if (errors != 1 || log.Count != 1 || log[0].Address != expected || log[0].FlippedBits != 1UL << 33)
                throw new InvalidOperationException(
                    $"memtest self-check failed: one bit flipped at 0x{expected:x}, the verify kernel reported {errors} errors" +
                    (log.Count > 0 ? $" (first at 0x{log[0].Address:x})" : ""));
        }

        public MemtestPassResult RunPass(MemoryPattern pattern, ulong seed, int maxLogged, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            _d.Current();
            var (errors, log) = Pass(pattern, seed, _chunks, inject: null, out var writeMs, out var verifyMs);
            return new MemtestPassResult(pattern, seed, Bytes, writeMs, verifyMs, errors, log.Take(Math.Max(0, maxLogged)).ToList());
        }

        private (long Errors, List<MemoryErrorRecord> Log) Pass(MemoryPattern p, ulong seed, IReadOnlyList<DeviceMemory> chunks,
            (DeviceMemory Chunk, ulong Offset, ulong Bit)? inject, out double writeMs, out double verifyMs)
        {
            var cap = SmokePlan.MaxLoggedErrors;
            _control.Fill32(0, 2);
            _d._context.Synchronize(); // cuMemset runs on the legacy stream, which our non-blocking stream does not wait for
            using var start = CudaEvent.Create();
            using var mid = CudaEvent.Create();
            using var end = CudaEvent.Create();
            start.Record(_d._stream);
            var word0 = 0UL;
            foreach (var c in chunks)
            {
                _d.WritePattern(c, p, seed, word0);
                word0 += c.Bytes / 8;
            }
            mid.Record(_d._stream);
            if (inject is { } f)
            {
                _d._stream.Synchronize();
                var word = new ulong[1];
                DownloadWord(f.Chunk.Pointer + f.Offset, word);
                word[0] ^= f.Bit;
                UploadWord(f.Chunk.Pointer + f.Offset, word);
                _d._context.Synchronize(); // a pageable upload may still be in flight when the call returns
            }
            word0 = 0;
            foreach (var c in chunks)
            {
                _d.VerifyPattern(c, p, seed, word0, _control, cap);
                word0 += c.Bytes / 8;
            }
            end.Record(_d._stream);
            end.Synchronize();
            writeMs = CudaEvent.ElapsedMilliseconds(start, mid);
            verifyMs = CudaEvent.ElapsedMilliseconds(mid, end);
            var raw = new ulong[1 + 3 * cap];
            _control.CopyTo<ulong>(raw);
            var count = (long)raw[0];
            return (count, MemoryPatterns.Decode(raw.AsSpan(1), count, p));
        }

        private static void DownloadWord(ulong address, ulong[] word)
        {
            fixed (ulong* w = word) CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyDtoH_v2(w, address, 8), "cuMemcpyDtoH_v2");
        }

        private static void UploadWord(ulong address, ulong[] word)
        {
            fixed (ulong* w = word) CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyHtoD_v2(address, w, 8), "cuMemcpyHtoD_v2");
        }

        public void Dispose()
        {
            foreach (var c in _chunks) c.Dispose();
            _chunks.Clear();
            _control.Dispose();
        }
    }

    // ---- peers ----

    public string? PeerUnsupportedReason(ISmokeDevice other) =>
        other is not CudaSmokeDevice o ? "not a CUDA device"
        : _device.CanAccessPeer(o._device) ? null
        : "cuDeviceCanAccessPeer: no peer access between these GPUs (no NVLink / PCIe P2P)";

    public IReadOnlyList<double> TimePeerCopy(ISmokeDevice destination, long bytes, int reps, CancellationToken ct)
    {
        var dst = (CudaSmokeDevice)destination;
        Current();
        if (!_peerEnabled)
        {
            try { _context.EnablePeerAccess(dst._context); }
            catch (CudaException e) when ((int)e.Result == 704) { } // CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED
            _peerEnabled = true;
        }
        using var src = DeviceMemory.Allocate((ulong)bytes);
        src.Fill32(0xA5A5A5A5, (ulong)bytes / 4);
        _context.Synchronize();
        dst.Current();
        using var target = DeviceMemory.Allocate((ulong)bytes);
        Current();
        return Time(reps, null, ct, () => target.CopyFromPeer(dst._context, src, _context, (ulong)bytes));
    }

    public void ReleaseCaches()
    {
        Current();
        _copySrc?.Dispose();
        _copyDst?.Dispose();
        _hostSide?.Dispose();
        _pinned?.Dispose();
        _copySrc = _copyDst = _hostSide = null;
        _pinned = null;
        _pageable = null;
    }

    public void Dispose()
    {
        ReleaseCaches();
        if (_cublas is not null && _cublasHandle != 0) _cublas.Destroy(_cublasHandle);
        _module?.Dispose();
        _stream.Dispose();
        _context.Dispose();
    }
}
