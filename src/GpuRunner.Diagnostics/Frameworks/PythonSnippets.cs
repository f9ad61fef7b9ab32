namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>
/// The document's own snippets, each wrapped so that it prints exactly one JSON line (prefixed by
/// <see cref="Marker"/>) whatever happens, while the framework's own warnings and tracebacks go to stderr untouched:
/// stderr is where the known failure modes show their exact text.
/// </summary>
public static class PythonSnippets
{
    public const string Marker = "GPURUNNER_RESULT ";

    // Shared prologue: "installed" means the top-level module imports; a ModuleNotFoundError for the module itself is
    // "not installed" (SKIP), any other import error (a missing .so inside it) is a real failure and is reported.
    private const string Prologue = """
import json, sys, traceback
out = {"installed": False}
def emit():
    sys.stdout.write("GPURUNNER_RESULT " + json.dumps(out) + "\n"); sys.stdout.flush()
def step(key, fn):
    try:
        out[key] = fn()
    except BaseException as e:
        traceback.print_exc()
        out.setdefault("errors", []).append(type(e).__name__ + ": " + str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
""";

    public static readonly string Torch = Prologue + "\n" + """
try:
    import torch
except ModuleNotFoundError as e:
    if e.name != "torch": raise
    emit(); sys.exit(0)
out["installed"] = True
out["version"] = torch.__version__
out["cuda"] = torch.version.cuda
step("available", lambda: torch.cuda.is_available())
step("count", lambda: torch.cuda.device_count())
# The document calls get_device_name(current_device()) unconditionally: on a broken setup that call raises the
# exact error users see ("Torch not compiled with CUDA enabled", "Found no NVIDIA driver ...").
step("deviceName", lambda: torch.cuda.get_device_name(torch.cuda.current_device()))
if out.get("available"):
    # .to("cuda") and one kernel: an arch missing from the wheel passes is_available() but fails here.
    step("tensorOk", lambda: float((torch.ones(4).to("cuda") * 2).sum().item()) == 8.0)
emit()
""";

    public static readonly string Jax = Prologue + "\n" + """
try:
    import jax
except ModuleNotFoundError as e:
    if e.name != "jax": raise
    emit(); sys.exit(0)
out["installed"] = True
out["version"] = jax.__version__
step("devices", lambda: [str(d) for d in jax.devices()])
step("platform", lambda: jax.devices()[0].platform)
step("deviceKind", lambda: jax.devices()[0].device_kind)
emit()
""";

    public static readonly string TensorFlow = Prologue + "\n" + """
try:
    import tensorflow as tf
except ModuleNotFoundError as e:
    if e.name != "tensorflow": raise
    emit(); sys.exit(0)
out["installed"] = True
out["version"] = tf.__version__
step("devices", lambda: [d.name for d in tf.config.list_physical_devices('GPU')])
step("cuda", lambda: tf.sysconfig.get_build_info().get("cuda_version"))
emit()
""";

    /// <summary>Where a Python PyTorch keeps its libtorch (for TorchSharp), without initialising CUDA.</summary>
    public static readonly string TorchLibDir = Prologue + "\n" + """
try:
    import importlib.util, os
    spec = importlib.util.find_spec("torch")
    if spec is not None and spec.origin:
        out["installed"] = True
        out["libDir"] = os.path.join(os.path.dirname(spec.origin), "lib")
except BaseException as e:
    traceback.print_exc()
emit()
""";
}
