namespace DevicePlugin.Cli;

public enum LogFormat
{
    Text,
    Json,
}
