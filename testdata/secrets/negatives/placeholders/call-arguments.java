// Configuration read at start-up: every value comes from the environment or a vault.
public final class Settings {
    static void load() {
        System.setProperty("stripe.apiKey", System.getenv("STRIPE_API_KEY"));
        System.setProperty("auth.token", "");
        headers.put("X-Api-Key", "YOUR_API_KEY_HERE");
        headers.put("Authorization", "Bearer " + token);
        config.set("api_secret", "${API_SECRET}");
        config.set("webhook_secret", "<webhook-secret>");
        props.put("service.token", "changeme-token-value");
        os.Setenv("TOKEN_FILE", "/run/secrets/token.txt");
    }
}
