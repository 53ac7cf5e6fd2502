public final class Config {
    public static final String DB_PASSWORD = "K?~5F0LSbQK*E75+";
    public static final String SERVICE_TOKEN = "DWtU1ebeS6F6VVcDFY4OjCGxYwlUDqo9GDjEf0rd";
}
