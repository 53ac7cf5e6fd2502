data class Credentials(val username: String, val password: String, val token: String? = null)

class AuthRepository(private val api: AuthApi, private val prefs: SharedPreferences) {
    var accessToken: String?
        get() = prefs.getString(KEY_ACCESS_TOKEN, null)
        set(value) = prefs.edit().putString(KEY_ACCESS_TOKEN, value).apply()

    suspend fun login(password: String): Result<String> = api.login(password)

    companion object {
        private const val KEY_ACCESS_TOKEN = "access_token"
        private const val KEY_REFRESH_TOKEN = "refresh_token_v2"
    }
}
