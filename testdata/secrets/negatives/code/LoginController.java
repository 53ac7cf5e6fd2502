@RestController
public class LoginController {
    private final PasswordEncoder passwordEncoder;
    private final TokenService tokenService;

    @PostMapping("/login")
    public TokenResponse login(@RequestBody LoginRequest req) {
        String password = req.getPassword();
        char[] secret = password.toCharArray();
        String token = tokenService.issue(req.getUsername());
        String hashedPassword = passwordEncoder.encode(password);
        if (!passwordEncoder.matches(password, user.getPasswordHash())) {
            throw new BadCredentialsException("Invalid password for user " + req.getUsername());
        }
        return new TokenResponse(token, "Bearer", 3600);
    }
}
