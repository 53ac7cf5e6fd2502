public class Settings
{
    public string ApiKey { get; } = Environment.GetEnvironmentVariable("ACME_API_KEY");
    public string Password => Configuration["Database:Password"];
    public string ClientSecret = config.GetValue<string>("AzureAd:ClientSecret");
    private const string TokenKey = "Auth:Token";
}
