namespace GpuRunner.Lifecycle;

public enum PrincipalKind { User, Runner }

/// <summary>Who is calling: a user (by name) or the runner of one Space (its per-Space token). A runner token is
/// bound to the Space's uid, not only its name: it never acts on a later Space of the same name.</summary>
public sealed record Principal(PrincipalKind Kind, string Name, string? SpaceId = null, bool IsAdmin = false, string? SpaceUid = null)
{
    public static Principal User(string name, bool admin = false) => new(PrincipalKind.User, name, null, admin);
    public static Principal Runner(string spaceId, string createdBy, string? spaceUid = null) => new(PrincipalKind.Runner, createdBy, spaceId, false, spaceUid);

    /// <summary>This principal is the runner of exactly this Space (same name and, when known, same uid).</summary>
    public bool IsRunnerOf(SpaceState space) => Kind == PrincipalKind.Runner && SpaceId == space.Id && (SpaceUid is null || SpaceUid == space.Uid);

    public bool IsOwnerOf(SpaceState space) => Kind == PrincipalKind.User && Name == space.Owner;

    /// <summary>Owner-only actions: pause, restart, hardware, sleep time, tokens, delete.</summary>
    public void EnsureOwner(SpaceState space, string action)
    {
        if (IsOwnerOf(space)) return;
        var who = Kind == PrincipalKind.Runner ? $"the runner of {SpaceId}" : $"user '{Name}'";
        throw new LifecycleException(LifecycleErrorKind.Forbidden, $"only the owner of {space.Id} can {action}; you are {who}");
    }

    /// <summary>Runner routes: the Space's own runner token, or its owner's user token.</summary>
    public void EnsureCanReport(SpaceState space)
    {
        if (IsOwnerOf(space) || IsRunnerOf(space)) return;
        var who = Kind == PrincipalKind.Runner ? $"a runner token of {SpaceId}" : $"user '{Name}'";
        throw new LifecycleException(LifecycleErrorKind.Forbidden, $"cannot report for {space.Id} with {who}");
    }

    /// <summary>Runtime and usage reads: the owner, the Space's runner, or an admin.</summary>
    public void EnsureCanRead(SpaceState space)
    {
        if (IsAdmin || IsOwnerOf(space) || IsRunnerOf(space)) return;
        throw new LifecycleException(LifecycleErrorKind.Forbidden, $"{space.Id} belongs to another user");
    }
}
