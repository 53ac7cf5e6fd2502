#include <openssl/evp.h>

int derive(const char *password, const unsigned char *salt, unsigned char *key_out)
{
    /* password_len bytes of password, 100000 iterations */
    size_t password_len = strlen(password);
    return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, 16, 100000, EVP_sha256(), 32, key_out);
}

static const char *TOKEN_ENV = "APP_TOKEN";
