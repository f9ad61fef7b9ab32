namespace GpuRunner.Lifecycle;

public enum PrincipalKind { User, Runner }

/// <summary>Who is calling: a user (by name) or the runner of one Space (its per-Space token).</summary>
public sealed record Principal(PrincipalKind Kind, string Name, string? SpaceId = null, bool IsAdmin = false)
{
    public static Principal User(string name, bool admin = false) => new(PrincipalKind.User, name, null, admin);
    public static Principal Runner(string spaceId, string createdBy) => new(PrincipalKind.Runner, createdBy, spaceId);

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
        if (IsOwnerOf(space) || (Kind == PrincipalKind.Runner && SpaceId == space.Id)) return;
        var who = Kind == PrincipalKind.Runner ? $"a runner token of {SpaceId}" : $"user '{Name}'";
        throw new LifecycleException(LifecycleErrorKind.Forbidden, $"cannot report for {space.Id} with {who}");
    }

    /// <summary>Runtime and usage reads: the owner, the Space's runner, or an admin.</summary>
    public void EnsureCanRead(SpaceState space)
    {
        if (IsAdmin || IsOwnerOf(space) || (Kind == PrincipalKind.Runner && SpaceId == space.Id)) return;
        throw new LifecycleException(LifecycleErrorKind.Forbidden, $"{space.Id} belongs to another user");
    }
}
