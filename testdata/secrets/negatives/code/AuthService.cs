public class AuthService : IAuthService
{
    private readonly string _secretKey;
    public string Password { get; set; }
    public const string PasswordClaim = "pwd_changed";

    public AuthService(IOptions<JwtOptions> options)
    {
        _secretKey = options.Value.SecretKey;
    }

    public bool Verify(string password, string hash) => BCrypt.Net.BCrypt.Verify(password, hash);
    public string CreateToken(User user) => new JwtSecurityTokenHandler().WriteToken(Build(user, _secretKey));
}
