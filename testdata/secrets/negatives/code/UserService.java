package com.acme.users;

import org.springframework.beans.factory.annotation.Value;

public class UserService {
    @Value("${app.jwt.secret}")
    private String jwtSecret;

    @Value("${app.api.token:}")
    private String apiToken;

    private static final String PASSWORD_PATTERN = "^(?=.*[0-9])(?=.*[a-z]).{8,}$";
    private static final String TOKEN_HEADER = "X-Auth-Token";

    public boolean checkPassword(String password, String hash) {
        return encoder.matches(password, hash);
    }

    public String resetPasswordMessage(String user) {
        return String.format("Password for %s was reset; the new password is %s", user, "<sent by email>");
    }
}
