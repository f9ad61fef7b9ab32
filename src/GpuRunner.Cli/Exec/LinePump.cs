using System.Text;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// Copies a child's stdout or stderr to ours byte for byte, one whole line at a time (each followed by a flush), and
/// hands every line, decoded, to observers (readiness by log line, stderr tail). A partial line (a prompt, a progress
/// bar redrawn with \r) is written after <see cref="PartialFlushDelay"/> of silence or once it reaches
/// <see cref="MaxLine"/> bytes, so nothing is held back indefinitely.
/// </summary>
public sealed class LinePump(Stream source, Stream sink, object gate, Action<string>? onLine = null, TimeSpan? partialFlushDelay = null)
{
    public const int MaxLine = 64 * 1024;
    public static readonly TimeSpan PartialFlushDelay = TimeSpan.FromMilliseconds(200);

    // Tests choose it: one long enough that a loaded CI machine cannot reach it, one short enough to wait for.
    private readonly TimeSpan _partialFlushDelay = partialFlushDelay ?? PartialFlushDelay;

    private readonly byte[] _pending = new byte[MaxLine];
    private int _length;

    public async Task RunAsync()
    {
        var buffer = new byte[16 * 1024];
        Task<int>? read = null;
        while (true)
        {
            read ??= source.ReadAsync(buffer).AsTask();
            if (_length > 0 && await Task.WhenAny(read, Task.Delay(_partialFlushDelay)) != read)
            {
                Emit(_pending.AsSpan(0, _length), complete: false);
                _length = 0;
                continue; // keep waiting on the same read
            }
            int n;
            try { n = await read; }
            catch (IOException) { n = 0; }
            read = null;
            if (n == 0) break;
            Consume(buffer.AsSpan(0, n));
        }
        if (_length > 0) Emit(_pending.AsSpan(0, _length), complete: false);
        _length = 0;
    }

    private void Consume(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var nl = data.IndexOf((byte)'\n');
            var take = nl >= 0 ? nl + 1 : data.Length;
            var room = MaxLine - _length;
            if (take > room) { take = room; nl = -1; }
            data[..take].CopyTo(_pending.AsSpan(_length));
            _length += take;
            data = data[take..];
            if (nl >= 0 || _length == MaxLine)
            {
                Emit(_pending.AsSpan(0, _length), complete: nl >= 0);
                _length = 0;
            }
        }
    }

    private void Emit(ReadOnlySpan<byte> bytes, bool complete)
    {
        lock (gate)
        {
            try
            {
                sink.Write(bytes);
                sink.Flush();
            }
            catch (IOException) { } // our stdout closed (a pipe reader left): keep draining so the child never blocks
        }
        if (onLine is null) return;
        var text = Encoding.UTF8.GetString(bytes);
        if (complete) text = text.TrimEnd('\n').TrimEnd('\r');
        onLine(text);
    }
}

/// <summary>Writes bytes to a TextWriter (tests capture the child's output in a StringWriter).</summary>
public sealed class TextWriterStream(TextWriter writer) : Stream
{
    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => writer.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var chars = new char[_decoder.GetCharCount(buffer, flush: false)];
        _decoder.GetChars(buffer, chars, flush: false);
        writer.Write(chars);
    }
}

/// <summary>The last bytes of the child's stderr, for the exit report (bounded: the core refuses huge bodies).</summary>
public sealed class TailBuffer(int maxChars = 4000)
{
    private readonly LinkedList<string> _lines = new();
    private int _chars;

    public void Add(string line)
    {
        lock (_lines)
        {
            _lines.AddLast(line);
            _chars += line.Length + 1;
            while (_chars > maxChars && _lines.Count > 1)
            {
                _chars -= _lines.First!.Value.Length + 1;
                _lines.RemoveFirst();
            }
        }
    }

    public string? Text()
    {
        lock (_lines)
        {
            if (_lines.Count == 0) return null;
            var text = string.Join("\n", _lines);
            return text.Length > maxChars ? text[^maxChars..] : text;
        }
    }
}
