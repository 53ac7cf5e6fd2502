public final class Env {
    static final String API_KEY = System.getenv("ACME_API_KEY");
    static final String PASSWORD = System.getProperty("db.password");
    @Value("${spring.datasource.password}")
    private String password;
    @Value("${jwt.secret}")
    private String jwtSecret;
    private final String token = Objects.requireNonNull(System.getenv("TOKEN"), "TOKEN");
}
