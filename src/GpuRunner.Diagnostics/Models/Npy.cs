using System.Text;
using System.Text.RegularExpressions;

namespace GpuRunner.Diagnostics.Models;

/// <summary>Reads numpy .npy files holding little-endian float32 ('&lt;f4'), C order: all models/ ships.</summary>
public static partial class Npy
{
    public static (float[] Data, int[] Shape) ReadFloat32(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new ModelException($"{path}: {e.Message}"); }
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new ModelException($"{path}: not a .npy file");
        var major = bytes[6];
        var (headerLen, start) = major == 1 ? (BitConverter.ToUInt16(bytes, 8), 10) : ((int)BitConverter.ToUInt32(bytes, 8), 12);
        var header = Encoding.ASCII.GetString(bytes, start, headerLen);
        if (!header.Contains("'descr': '<f4'") || header.Contains("'fortran_order': True"))
            throw new ModelException($"{path}: only little-endian float32 in C order is supported ({header.Trim()})");
        var m = ShapeRegex().Match(header);
        if (!m.Success) throw new ModelException($"{path}: no shape in header");
        int[] shape = [.. m.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse)];
        var count = shape.Aggregate(1, (a, b) => a * b);
        var dataStart = start + headerLen;
        if (bytes.Length - dataStart != count * 4L) throw new ModelException($"{path}: {bytes.Length - dataStart} data bytes for shape ({string.Join(",", shape)})");
        var data = new float[count];
        Buffer.BlockCopy(bytes, dataStart, data, 0, count * 4);
        return (data, shape);
    }

    [GeneratedRegex(@"'shape': \(([^)]*)\)")] private static partial Regex ShapeRegex();
}
