namespace Runnel.FanOut.Mappings;

/// <summary>Lambda's mapping states. The API leaves a transitional state; the delivery service settles it.</summary>
public static class MappingStates
{
    public const string Creating = "Creating";
    public const string Enabled = "Enabled";
    public const string Disabled = "Disabled";
    public const string Enabling = "Enabling";
    public const string Disabling = "Disabling";
    public const string Updating = "Updating";
    public const string Deleting = "Deleting";

    public static bool IsTransitional(string state) => state is Creating or Enabling or Disabling or Updating;
}
